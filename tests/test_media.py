"""Tests for pipeline.media: media types, safe keys, collecting files and RTMP stream names."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import ConfigError, InputError, MediaError
from pipeline.media import (
    MEDIA_TYPES,
    MediaFile,
    collect,
    is_media,
    media_info,
    object_key,
    probe,
    safe_relpath,
    sha256_file,
    stream_name,
)

SAMPLES = Path(__file__).resolve().parent.parent / "sample_media"
HAVE_FFPROBE = shutil.which("ffprobe") is not None


def write(path: Path, data: bytes = b"not really media") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- media types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "kind", "content_type", "flavour"),
    [
        (".mp4", "video", "video/mp4", "mp4"),
        (".m4v", "video", "video/mp4", "mp4"),
        (".mov", "video", "video/quicktime", "mp4"),
        (".f4v", "video", "video/mp4", "mp4"),
        (".flv", "video", "video/x-flv", "flv"),
        (".mp3", "audio", "audio/mpeg", "mp3"),
    ],
)
def test_media_types(ext: str, kind: str, content_type: str, flavour: str) -> None:
    assert MEDIA_TYPES[ext] == (kind, content_type, flavour)


def test_media_types_are_exactly_the_supported_ones() -> None:
    assert sorted(MEDIA_TYPES) == [".f4v", ".flv", ".m4v", ".mov", ".mp3", ".mp4"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clip.mp4", True),
        ("CLIP.MP4", True),
        ("a/b/song.mp3", True),
        ("old.Flv", True),
        ("notes.txt", False),
        ("mp4", False),
        ("clip.mp4.part", False),
        ("", False),
    ],
)
def test_is_media(name: str, expected: bool) -> None:
    assert is_media(name) is expected
    assert is_media(Path(name)) is expected


# --- media_info --------------------------------------------------------------------------------


def test_media_info_describes_a_file(tmp_path: Path) -> None:
    path = write(tmp_path / "videos" / "My Clip.MOV", b"x" * 10)
    info = media_info(path, tmp_path)
    assert info == MediaFile(
        path=path,
        relpath="videos/My Clip.MOV",
        size=10,
        kind="video",
        content_type="video/quicktime",
        extension=".mov",
    )
    assert info.rtmp_flavour == "mp4"


def test_media_info_is_frozen(tmp_path: Path) -> None:
    info = media_info(write(tmp_path / "a.mp3"), tmp_path)
    with pytest.raises(AttributeError):
        info.size = 1  # type: ignore[misc]


def test_media_info_rejects_unsupported_type(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.txt")
    with pytest.raises(MediaError) as caught:
        media_info(path, tmp_path)
    assert caught.value.code == "unsupported"
    assert "notes.txt" in caught.value.message
    for ext in MEDIA_TYPES:
        assert ext in caught.value.message


def test_media_info_rejects_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.mp4", b"")
    with pytest.raises(MediaError) as caught:
        media_info(path, tmp_path)
    assert caught.value.code == "empty"
    assert caught.value.message == (
        f"{path} is empty (0 bytes); nothing to publish. Check the file finished copying."
    )


def test_media_info_reports_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as caught:
        media_info(tmp_path / "gone.mp4", tmp_path)
    assert caught.value.code == "missing"
    assert "gone.mp4" in caught.value.message


def test_media_info_reports_unreadable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "locked.mp4")
    real_open = Path.open

    def deny(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(MediaError) as caught:
        media_info(path, tmp_path)
    assert caught.value.code == "unreadable"
    assert "Permission denied" in caught.value.message


def test_media_info_rejects_a_folder_named_like_media(tmp_path: Path) -> None:
    (tmp_path / "folder.mp4").mkdir()
    with pytest.raises(MediaError) as caught:
        media_info(tmp_path / "folder.mp4", tmp_path)
    assert caught.value.code == "unsupported"


def test_media_info_rejects_escaping_path(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    path = write(tmp_path / "outside.mp4")
    with pytest.raises(InputError):
        media_info(root / ".." / "outside.mp4", root)
    with pytest.raises(InputError):
        media_info(path, root)


# --- sha256_file -------------------------------------------------------------------------------


ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize("chunk", [1, 2, 3, 1 << 20])
def test_sha256_of_known_string(tmp_path: Path, chunk: int) -> None:
    assert sha256_file(write(tmp_path / "abc", b"abc"), chunk) == ABC_SHA256


def test_sha256_of_empty_and_large_files(tmp_path: Path) -> None:
    empty = hashlib.sha256(b"").hexdigest()
    assert sha256_file(write(tmp_path / "empty", b"")) == empty
    data = bytes(range(256)) * 9000  # over two 1 MiB chunks
    assert sha256_file(write(tmp_path / "big", data)) == hashlib.sha256(data).hexdigest()
    assert sha256_file(tmp_path / "big", chunk=4096) == hashlib.sha256(data).hexdigest()


def test_sha256_errors(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as caught:
        sha256_file(tmp_path / "missing")
    assert caught.value.code == "missing"
    with pytest.raises(ValueError):
        sha256_file(write(tmp_path / "x"), chunk=0)


# --- safe_relpath ------------------------------------------------------------------------------


def test_safe_relpath_nested_and_odd_names(tmp_path: Path) -> None:
    assert safe_relpath(tmp_path / "a" / "b" / "c.mp4", tmp_path) == "a/b/c.mp4"
    assert safe_relpath(tmp_path / "a b.mp4", tmp_path) == "a b.mp4"
    assert safe_relpath(tmp_path / "vidéo ü.mp4", tmp_path) == "vidéo ü.mp4"
    assert safe_relpath(tmp_path / 'a "b" <c>.mp4', tmp_path) == 'a "b" <c>.mp4'
    # Only "/" separates; a backslash is part of the name.
    assert safe_relpath(tmp_path / "a\\b.mp4", tmp_path) == "a\\b.mp4"


def test_safe_relpath_accepts_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert safe_relpath(Path("media/x/clip.mp4"), Path("media")) == "x/clip.mp4"
    assert safe_relpath(Path("./media/clip.mp4"), Path("media")) == "clip.mp4"


@pytest.mark.parametrize(
    "rel",
    [
        "../outside.mp4",
        "a/../../outside.mp4",
        "a/../b.mp4",
        "..",
    ],
)
def test_safe_relpath_rejects_dotdot(tmp_path: Path, rel: str) -> None:
    with pytest.raises(InputError):
        safe_relpath(tmp_path / rel, tmp_path)


def test_safe_relpath_rejects_paths_outside_root(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not inside"):
        safe_relpath(tmp_path / "other" / "a.mp4", tmp_path / "root")
    with pytest.raises(InputError, match="folder itself"):
        safe_relpath(tmp_path, tmp_path)


@pytest.mark.parametrize("name", ["bad\nname.mp4", "tab\there.mp4", "del\x7f.mp4", "esc\x1b.mp4"])
def test_safe_relpath_rejects_control_characters(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="control character"):
        safe_relpath(tmp_path / name, tmp_path)


def test_safe_relpath_rejects_names_that_are_not_utf8(tmp_path: Path) -> None:
    name = os.fsdecode(b"bad\xff.mp4")  # how Linux hands over a non-UTF-8 file name
    with pytest.raises(InputError, match="UTF-8"):
        safe_relpath(tmp_path / name, tmp_path)


def test_safe_relpath_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    target = write(root / "real" / "clip.mp4")
    outside = write(tmp_path / "secret.mp4")
    (root / "inside.mp4").symlink_to(target)
    (root / "escape.mp4").symlink_to(outside)
    (root / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    assert safe_relpath(root / "inside.mp4", root) == "inside.mp4"
    with pytest.raises(InputError, match="symbolic link"):
        safe_relpath(root / "escape.mp4", root)
    with pytest.raises(InputError, match="symbolic link"):
        safe_relpath(root / "linkdir" / "secret.mp4", root)


# --- object_key --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("media", "media/videos/clip.mp4"),
        ("media/", "media/videos/clip.mp4"),
        ("/media/", "media/videos/clip.mp4"),
        (" media ", "media/videos/clip.mp4"),
        ("a/b", "a/b/videos/clip.mp4"),
        ("a/b/", "a/b/videos/clip.mp4"),
        ("", "videos/clip.mp4"),
        ("/", "videos/clip.mp4"),
    ],
)
def test_object_key_normalises_prefix(prefix: str, expected: str) -> None:
    assert object_key(prefix, "videos/clip.mp4") == expected


@pytest.mark.parametrize(
    "relpath",
    [
        "../clip.mp4",
        "videos/../../clip.mp4",
        "videos/..",
        "./clip.mp4",
        "/clip.mp4",
        "videos//clip.mp4",
        "videos/",
        "",
        "bad\x00.mp4",
        "bad\r.mp4",
    ],
)
def test_object_key_rejects_climbing_or_odd_relpaths(relpath: str) -> None:
    with pytest.raises(InputError):
        object_key("media", relpath)


@pytest.mark.parametrize("prefix", ["../media", "media/../..", "a//b", "./media", "me\ndia"])
def test_object_key_rejects_bad_prefix(prefix: str) -> None:
    with pytest.raises(ConfigError):
        object_key(prefix, "clip.mp4")


def test_object_key_keeps_odd_characters() -> None:
    assert object_key("media", 'a "b" <c>.mp4') == 'media/a "b" <c>.mp4'
    assert object_key("médias", "vidéo.mp4") == "médias/vidéo.mp4"
    assert object_key("", "..hidden..mp4") == "..hidden..mp4"


def test_object_key_length_limit() -> None:
    assert len(object_key("", "a" * 1020 + ".mp4")) == 1024
    with pytest.raises(InputError, match="1024"):
        object_key("p", "a" * 1020 + ".mp4")
    with pytest.raises(InputError, match="1024"):
        object_key("", "é" * 511 + ".mp4")  # 1026 bytes of UTF-8


# --- collect -----------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    write(root / "b.mp4")
    write(root / "a.flv")
    write(root / "notes.txt")
    write(root / ".hidden.mp4")
    write(root / ".cache" / "inside.mp4")
    write(root / "videos" / "z clip.MOV")
    write(root / "videos" / "deeper" / "song.mp3")
    write(root / "Zed.m4v")
    write(tmp_path / "elsewhere" / "linked.mp4")
    (root / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    return root


def test_collect_walks_a_tree(tree: Path) -> None:
    found, notes = collect([tree])
    assert found == [
        (tree / "Zed.m4v", tree),
        (tree / "a.flv", tree),
        (tree / "b.mp4", tree),
        (tree / "videos" / "deeper" / "song.mp3", tree),
        (tree / "videos" / "z clip.MOV", tree),
    ]
    supported = "(supported: .mp4, .m4v, .mov, .f4v, .flv, .mp3)"
    assert f"skipped {tree / 'notes.txt'}: not a media file {supported}" in notes
    assert any("link" in note and "not followed" in note for note in notes)
    assert not any("hidden" in note or ".cache" in note for note in notes)
    assert len(notes) == 2


def test_collect_file_given_directly(tree: Path) -> None:
    found, notes = collect([tree / "videos" / "z clip.MOV", tree / "notes.txt"])
    assert found == [(tree / "videos" / "z clip.MOV", tree / "videos")]
    assert notes == [
        f"skipped {tree / 'notes.txt'}: not a media file "
        "(supported: .mp4, .m4v, .mov, .f4v, .flv, .mp3)"
    ]


def test_collect_hidden_file_given_directly_is_taken(tree: Path) -> None:
    found, _ = collect([tree / ".hidden.mp4"])
    assert found == [(tree / ".hidden.mp4", tree)]


def test_collect_keys_are_relative_to_the_given_folder(tree: Path) -> None:
    found, _ = collect([tree / "videos"])
    keys = [object_key("media", safe_relpath(file, root)) for file, root in found]
    assert keys == ["media/deeper/song.mp3", "media/z clip.MOV"]


def test_collect_skips_duplicates_and_keeps_order(tree: Path) -> None:
    found, _ = collect([tree / "b.mp4", tree / "b.mp4", tree / "a.flv"])
    assert found == [(tree / "b.mp4", tree), (tree / "a.flv", tree)]


def test_collect_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(InputError) as caught:
        collect([missing])
    assert (
        caught.value.message == f"{missing}: no such file or folder. Check the path, or create it."
    )


def test_collect_includes_empty_files_for_media_info_to_report(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.mp4", b"")
    found, notes = collect([tmp_path])
    assert found == [(empty, tmp_path)]
    assert notes == []
    with pytest.raises(MediaError) as caught:
        media_info(*found[0])
    assert caught.value.code == "empty"


def test_collect_notes_symlinked_files_that_escape(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "ok.mp4")
    outside = write(tmp_path / "outside.mp4")
    (root / "escape.mp4").symlink_to(outside)
    (root / "broken.mp4").symlink_to(tmp_path / "missing.mp4")
    found, notes = collect([root])
    assert found == [(root / "ok.mp4", root)]
    assert len(notes) == 2
    assert any("broken" in note for note in notes)
    assert any("escape.mp4" in note and "symbolic link" in note for note in notes)


def test_collect_empty_folder(tmp_path: Path) -> None:
    assert collect([tmp_path]) == ([], [])
    assert collect([]) == ([], [])


def test_collect_sample_media() -> None:
    found, notes = collect([SAMPLES])
    rels = [safe_relpath(file, root) for file, root in found]
    assert rels == ["audio/tone.mp3", "clip.mp4", "videos/bars and tone.flv"]
    assert notes  # README.md, make.sh
    assert all("not a media file" in note for note in notes)
    for file, root in found:
        info = media_info(file, root)
        assert 0 < info.size < 500_000


# --- stream_name -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "ext", "expected"),
    [
        ("clip.flv", ".flv", "clip"),
        ("media/videos/clip.flv", ".flv", "media/videos/clip"),
        ("media/videos/clip.mp4", ".mp4", "mp4:media/videos/clip.mp4"),
        ("clip.m4v", ".m4v", "mp4:clip.m4v"),
        ("a/clip.mov", ".mov", "mp4:a/clip.mov"),
        ("a/clip.f4v", ".f4v", "mp4:a/clip.f4v"),
        ("audio/tone.mp3", ".mp3", "mp3:audio/tone"),
        ("media/videos/bars and tone.flv", ".flv", "media/videos/bars and tone"),
        ("vidéos/ça ü.mp4", ".mp4", "mp4:vidéos/ça ü.mp4"),
        ('media/a "b" <c>.mp4', ".mp4", 'mp4:media/a "b" <c>.mp4'),
        ("media/Song.MP3", ".MP3", "mp3:media/Song"),
        ("Old.FLV", ".flv", "Old"),
        ("clip.mp4", "mp4", "mp4:clip.mp4"),
    ],
)
def test_stream_name(key: str, ext: str, expected: str) -> None:
    assert stream_name(key, ext) == expected


@pytest.mark.parametrize(
    ("key", "ext"),
    [("notes.txt", ".txt"), ("clip.mp4", ".flv"), (".flv", ".flv"), ("clip", "")],
)
def test_stream_name_rejects_mismatches(key: str, ext: str) -> None:
    with pytest.raises(MediaError):
        stream_name(key, ext)


def test_stream_name_from_media_info(tmp_path: Path) -> None:
    info = media_info(write(tmp_path / "videos" / "bars and tone.flv"), tmp_path)
    key = object_key("media", info.relpath)
    assert stream_name(key, info.extension) == "media/videos/bars and tone"


# --- probe -------------------------------------------------------------------------------------


@pytest.mark.skipif(not HAVE_FFPROBE, reason="ffprobe is not installed")
def test_probe_sample_video() -> None:
    info = probe(SAMPLES / "clip.mp4")
    assert info is not None
    assert info["width"] == 320
    assert info["height"] == 180
    assert info["video_codec"] == "h264"
    assert info["audio_codec"] == "aac"
    assert info["codecs"] == ["h264", "aac"]
    assert info["duration"] is not None
    assert 3.5 < info["duration"] < 4.5


@pytest.mark.skipif(not HAVE_FFPROBE, reason="ffprobe is not installed")
def test_probe_sample_flv_and_mp3() -> None:
    flv = probe(SAMPLES / "videos" / "bars and tone.flv")
    assert flv is not None
    assert flv["codecs"] == ["h264", "aac"]
    mp3 = probe(SAMPLES / "audio" / "tone.mp3")
    assert mp3 is not None
    assert mp3["codecs"] == ["mp3"]
    assert mp3["width"] is None
    assert mp3["duration"] is not None
    assert 3.5 < mp3["duration"] < 4.5


@pytest.mark.skipif(not HAVE_FFPROBE, reason="ffprobe is not installed")
def test_probe_broken_file_returns_none(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = write(tmp_path / "-broken: file.mp4", b"this is not an mp4" * 10)
    with caplog.at_level(logging.WARNING, logger="pipeline.media"):
        assert probe(broken) is None
    assert "broken" in caplog.text


def test_probe_without_ffprobe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert probe(write(tmp_path / "a.mp4")) is None


def test_probe_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def slow(command: list[str], **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/ffprobe")
    monkeypatch.setattr(subprocess, "run", slow)
    assert probe(write(tmp_path / "a.mp4")) is None
    assert seen["timeout"] == 15


@pytest.mark.parametrize("stdout", [b"not json", b"[1, 2]", b""])
def test_probe_odd_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stdout: bytes) -> None:
    def fake(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess(command, 0, stdout, b"")

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/ffprobe")
    monkeypatch.setattr(subprocess, "run", fake)
    assert probe(write(tmp_path / "a.mp4")) is None


def test_probe_parses_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = b"""{
        "streams": [
            {"codec_type": "video", "codec_name": "mjpeg", "width": 600, "height": 600,
             "disposition": {"attached_pic": 1}},
            {"codec_type": "audio", "codec_name": "mp3", "duration": "12.5"},
            {"codec_type": "data", "codec_name": "bin_data"},
            {"codec_type": "video", "codec_name": "h264", "width": 640, "height": "360",
             "duration": "12.0", "disposition": {"attached_pic": 0}}
        ],
        "format": {"duration": "N/A"}
    }"""

    def fake(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess(command, 0, output, b"")

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/ffprobe")
    monkeypatch.setattr(subprocess, "run", fake)
    assert probe(write(tmp_path / "a.mp4")) == {
        "duration": 12.5,
        "width": 640,
        "height": 360,
        "video_codec": "h264",
        "audio_codec": "mp3",
        "codecs": ["mp3", "h264"],
    }
