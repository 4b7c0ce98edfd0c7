"""Tests for pipeline.media: media types, content sniffing, safe keys, collecting files and RTMP
stream names."""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import ConfigError, InputError, MediaError
from pipeline.media import (
    MEDIA_TYPES,
    SNIFF_BYTES,
    MediaFile,
    collect,
    is_media,
    media_info,
    object_key,
    safe_relpath,
    sha256_file,
    sniff,
    stream_name,
)

from .conftest import need

SAMPLES = Path(__file__).resolve().parent.parent / "sample_media"
HAVE_FFPROBE = shutil.which("ffprobe") is not None

# The smallest starts of files that sniff() takes for each container.
MP4_HEAD = struct.pack(">I", 24) + b"ftypisom" + b"\0\0\x02\0" + b"isomiso2"
MOV_HEAD = struct.pack(">I", 20) + b"ftypqt  " + b"\0\0\x02\0" + b"qt  "
FLV_HEAD = b"FLV\x01\x05" + struct.pack(">I", 9) + b"\0\0\0\0"
MP3_FRAME = b"\xff\xfb\x50\xc0"  # MPEG-1 Layer III, 64 kb/s, 44.1 kHz, no CRC
MP3_HEAD = MP3_FRAME + bytes(204)


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
    path = write(tmp_path / "videos" / "My Clip.MOV", MOV_HEAD)
    info = media_info(path, tmp_path)
    assert info == MediaFile(
        path=path,
        relpath="videos/My Clip.MOV",
        size=20,
        kind="video",
        content_type="video/quicktime",
        extension=".mov",
    )
    assert info.rtmp_flavour == "mp4"


def test_media_info_is_frozen(tmp_path: Path) -> None:
    info = media_info(write(tmp_path / "a.mp3", MP3_HEAD), tmp_path)
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


def test_media_info_reports_a_file_that_vanishes_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "going.mp4", MP4_HEAD)

    def vanish(self: Path, *args: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError(2, "No such file or directory", str(self))

    monkeypatch.setattr(Path, "open", vanish)
    with pytest.raises(MediaError) as caught:
        media_info(path, tmp_path)
    assert caught.value.code == "missing"
    assert caught.value.message == (
        f"{path}: the file vanished before it could be published. "
        "Check it was not moved or deleted."
    )


def test_media_info_opens_the_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "clip.mp4", MP4_HEAD + bytes(SNIFF_BYTES * 2))
    real_open = Path.open
    opened: list[Path] = []
    reads: list[int] = []

    class Spy(io.BufferedReader):
        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            reads.append(len(data))
            return data

    def spy(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(self)
        stream = real_open(self, *args, **kwargs)
        assert isinstance(stream, io.BufferedReader)
        return Spy(stream.detach())

    monkeypatch.setattr(Path, "open", spy)
    assert media_info(path, tmp_path).size == 24 + SNIFF_BYTES * 2
    assert opened == [path]
    assert sum(reads) <= SNIFF_BYTES


# --- sniff -------------------------------------------------------------------------------------

SAMPLE_FILES = ["clip.mp4", "videos/bars and tone.flv", "audio/tone.mp3"]


@pytest.mark.parametrize("relpath", SAMPLE_FILES)
def test_sniff_accepts_the_sample_media(relpath: str) -> None:
    path = SAMPLES / relpath
    assert sniff(path, path.suffix) is None
    assert media_info(path, SAMPLES).relpath == relpath


def tiny_png() -> bytes:
    """A real 1x1 grey PNG: signature, IHDR, IDAT, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00\x80")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def tiny_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("clip.mov", b"not a movie")
    return buffer.getvalue()


def random_bytes() -> bytes:
    data = random.Random(20260101).randbytes(8192)
    assert not (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)  # no accidental frame sync
    return data


NOT_MEDIA = {
    "notes.mp4": (
        b"Meeting notes\nThe clip is still rendering.\n",
        "content is plain text, not an MP4/QuickTime file (no ftyp/moov box at the start)",
        "an MP4 or QuickTime video",
    ),
    "poster.mp4": (
        tiny_png(),
        "content is a PNG image, not an MP4/QuickTime file (no ftyp/moov box at the start)",
        "an MP4 or QuickTime video",
    ),
    "videos/page.flv": (
        b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n",
        "content is an HTML page, not an FLV file (no FLV header at the start)",
        "an FLV video",
    ),
    "noise.mp3": (
        random_bytes(),
        "content is not an MP3 file (no ID3v2 tag or MPEG audio frame at the start)",
        "an MP3 audio file",
    ),
    "archive.mov": (
        tiny_zip(),
        "content is a ZIP archive, not an MP4/QuickTime file (no ftyp/moov box at the start)",
        "an MP4 or QuickTime video",
    ),
}


@pytest.mark.parametrize("relpath", NOT_MEDIA)
def test_media_info_rejects_content_that_is_not_media(tmp_path: Path, relpath: str) -> None:
    data, reason, expected = NOT_MEDIA[relpath]
    path = write(tmp_path / relpath, data)
    before = path.stat()
    assert sniff(path, path.suffix) == reason
    with pytest.raises(MediaError) as caught:
        media_info(path, tmp_path)
    assert caught.value.code == "not_media"
    assert caught.value.message == (
        f"{path}: {reason}; not published. Check that the file is really {expected}."
    )
    assert path.read_bytes() == data
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_mode) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_mode,
    )


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "a JPEG image"),
        (b"GIF89a\x01\x00\x01\x00", "a GIF image"),
        (b"%PDF-1.7\n", "a PDF document"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01", "a Matroska/WebM video"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "a WAV file"),
        (FLV_HEAD, "an FLV video"),
        (MP3_HEAD, "an MP3 audio file"),
    ],
)
def test_sniff_says_what_a_misnamed_file_looks_like(tmp_path: Path, data: bytes, what: str) -> None:
    reason = sniff(write(tmp_path / "clip.mp4", data), ".mp4")
    assert reason == f"content is {what}, not an MP4/QuickTime file (no ftyp/moov box at the start)"


def test_sniff_says_when_a_media_file_has_the_wrong_extension(tmp_path: Path) -> None:
    clip = write(tmp_path / "clip.flv", (SAMPLES / "clip.mp4").read_bytes())
    assert sniff(clip, ".flv") == (
        "content is an MP4 or QuickTime video, not an FLV file (no FLV header at the start)"
    )
    tone = write(tmp_path / "tone.mp4", (SAMPLES / "audio" / "tone.mp3").read_bytes())
    assert sniff(tone, ".mp4") == (
        "content is an MP3 audio file, not an MP4/QuickTime file (no ftyp/moov box at the start)"
    )


def box(kind: bytes, size: int) -> bytes:
    return struct.pack(">I", size) + kind


@pytest.mark.parametrize(
    "data",
    [
        MP4_HEAD,
        MOV_HEAD,
        *(box(kind, 8) for kind in [b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"]),
        box(b"mdat", 0) + b"\x00" * 32,  # size 0: the box runs to the end of the file
        box(b"mdat", 1) + struct.pack(">Q", 1 << 33) + b"\x00" * 32,  # 64-bit size
        box(b"ftyp", 0x7FFF_FFFF) + b"isom",  # bigger than the file: a cut-off copy, still MP4
    ],
)
@pytest.mark.parametrize("ext", [".mp4", ".M4V", ".mov", "f4v"])
def test_sniff_accepts_iso_bmff_starts(tmp_path: Path, data: bytes, ext: str) -> None:
    assert sniff(write(tmp_path / "clip", data), ext) is None


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x00\x00\x00", "no ftyp/moov box at the start"),
        (box(b"moof", 8), "no ftyp/moov box at the start"),
        (box(b"FTYP", 8), "no ftyp/moov box at the start"),
        (b"\x00\x00" + box(b"ftyp", 24), "no ftyp/moov box at the start"),
        (box(b"ftyp", 4) + b"isom", "the first box has an invalid size (4)"),
        (box(b"mdat", 1) + b"\x00\x00", "the first box has an invalid 64-bit size"),
        (box(b"mdat", 1) + struct.pack(">Q", 8), "the first box has an invalid 64-bit size"),
    ],
)
def test_sniff_rejects_bad_iso_bmff_starts(tmp_path: Path, data: bytes, problem: str) -> None:
    reason = sniff(write(tmp_path / "clip.mp4", data), ".mp4")
    assert reason is not None
    assert reason.endswith(f"not an MP4/QuickTime file ({problem})")


def test_sniff_flv(tmp_path: Path) -> None:
    assert sniff(write(tmp_path / "a.flv", FLV_HEAD), ".flv") is None
    assert sniff(write(tmp_path / "b.flv", b"FLV\x01"), ".FLV") is None
    reason = sniff(write(tmp_path / "c.flv", b"FLV\x02\x05"), ".flv")
    assert reason == "content is not an FLV file (unknown FLV version 2)"
    reason = sniff(write(tmp_path / "d.flv", b"FLV"), ".flv")
    assert reason == "content is plain text, not an FLV file (no FLV header at the start)"
    reason = sniff(write(tmp_path / "e.flv", b"flv\x01" + bytes(9)), ".flv")
    assert reason == "content is not an FLV file (no FLV header at the start)"


def id3(size: int, major: int = 4, flags: int = 0) -> bytes:
    """An ID3v2 tag header announcing `size` bytes of tag after it (syncsafe)."""
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3" + bytes([major, 0, flags]) + syncsafe


@pytest.mark.parametrize(
    "data",
    [
        MP3_HEAD,
        b"\xff\xf3\x48\xc4" + bytes(100),  # MPEG-2 Layer III, 24 kHz
        b"\xff\xe3\x18\xc4" + bytes(100),  # MPEG-2.5 Layer III, 11 kHz
        b"\xff\xfa\x00\x00" + bytes(100),  # free-format bitrate, with CRC
        id3(10) + bytes(10) + MP3_HEAD,  # ffmpeg's empty ID3v2.4 tag (10 bytes of padding)
        id3(200, major=3) + b"TIT2" + bytes(196) + MP3_HEAD,
        id3(200, major=2) + bytes(200) + MP3_HEAD,
        id3(20) + bytes(20) + bytes(500) + MP3_HEAD,  # padding beyond the tag's size
        id3(20) + bytes(20) + id3(30) + bytes(30) + MP3_HEAD,  # two tags
        id3(20, flags=0x10) + bytes(20) + b"3DI" + bytes(7) + MP3_HEAD,  # a tag with a footer
        id3(20) + bytes(20),  # a tag and nothing after it
        id3(20) + bytes(20) + b"\xff",  # too little after the tag to check
        id3(SNIFF_BYTES * 4) + b"\x01" * (SNIFF_BYTES * 2),  # cover art beyond what is read
    ],
)
def test_sniff_accepts_mp3_starts(tmp_path: Path, data: bytes) -> None:
    assert sniff(write(tmp_path / "song.mp3", data), ".mp3") is None


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\xff\xfd\x50\xc0", "the MPEG audio is Layer II, not Layer III"),
        (b"\xff\xff\x50\xc0", "the MPEG audio is Layer I, not Layer III"),
        (b"\xff\xf9\x50\xc0", "the MPEG audio is a reserved layer, not Layer III"),
        (b"\xff\xeb\x50\xc0", "the first MPEG audio frame has the reserved version"),
        (b"\xff\xfb\xf0\xc0", "the first MPEG audio frame has an invalid bitrate"),
        (b"\xff\xfb\x5c\xc0", "the first MPEG audio frame has the reserved sample rate"),
        (b"\xff\xdb\x50\xc0", "no ID3v2 tag or MPEG audio frame at the start"),
        (b"\xff\xfb\x50", "no ID3v2 tag or MPEG audio frame at the start"),
        (id3(20) + bytes(20) + b"\xfe\xfb\x50\xc0", "no MPEG audio frame after the ID3v2 tag"),
        (id3(20) + bytes(20) + b"LAME3.100", "no MPEG audio frame after the ID3v2 tag"),
        (id3(20, major=5) + bytes(20) + MP3_HEAD, "the ID3v2 tag header is damaged"),
        (id3(20)[:-1] + b"\x80" + bytes(20) + MP3_HEAD, "the ID3v2 tag header is damaged"),
        (id3(20)[:7], "the ID3v2 tag header is cut short"),
        (id3(5000) + MP3_HEAD, "the ID3v2 tag claims to be longer than the file"),
    ],
)
def test_sniff_rejects_bad_mp3_starts(tmp_path: Path, data: bytes, problem: str) -> None:
    reason = sniff(write(tmp_path / "song.mp3", data), ".mp3")
    assert reason is not None
    assert reason.endswith(f"not an MP3 file ({problem})")


@pytest.mark.parametrize("ext", MEDIA_TYPES)
def test_sniff_rejects_plain_text_for_every_media_type(tmp_path: Path, ext: str) -> None:
    reason = sniff(write(tmp_path / f"a{ext}", b"hello\n"), ext)
    assert reason is not None
    assert reason.startswith("content is plain text, not an ")


def test_sniff_errors(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as caught:
        sniff(write(tmp_path / "notes.txt", b"hello"), ".txt")
    assert caught.value.code == "unsupported"
    with pytest.raises(MediaError) as caught:
        sniff(tmp_path / "gone.mp4", ".mp4")
    assert caught.value.code == "missing"
    (tmp_path / "folder.mp4").mkdir()
    with pytest.raises(MediaError) as caught:
        sniff(tmp_path / "folder.mp4", ".mp4")
    assert caught.value.code == "unreadable"
    assert "Check its permissions" in caught.value.message
    assert sniff(write(tmp_path / "empty.mp4", b""), ".mp4") == "the file is empty"


@pytest.fixture(scope="module")
def ffmpeg_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files ffmpeg makes that the sample media do not cover."""
    need("ffmpeg")
    out = tmp_path_factory.mktemp("ffmpeg")
    video = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1"]
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
    commands = [
        [*tone, "-id3v2_version", "0", "-write_id3v1", "0", "no tag.mp3"],
        [*video, "-f", "mov", "quicktime.mov"],
        [*video, "-movflags", "frag_keyframe+empty_moov", "fragmented.mp4"],
    ]
    for command in commands:
        subprocess.run(
            ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *command],
            cwd=out,
            check=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    return out


def test_sniff_accepts_an_mp3_without_id3_tag(ffmpeg_media: Path) -> None:
    path = ffmpeg_media / "no tag.mp3"
    assert path.read_bytes()[:1] == b"\xff"  # really no tag: a frame header first
    assert sniff(path, ".mp3") is None
    assert media_info(path, ffmpeg_media).kind == "audio"


def test_sniff_accepts_a_quicktime_mov(ffmpeg_media: Path) -> None:
    path = ffmpeg_media / "quicktime.mov"
    assert path.read_bytes()[4:12] == b"ftypqt  "
    assert sniff(path, ".mov") is None
    assert media_info(path, ffmpeg_media).content_type == "video/quicktime"


def test_sniff_accepts_a_fragmented_mp4(ffmpeg_media: Path) -> None:
    path = ffmpeg_media / "fragmented.mp4"
    assert b"moof" in path.read_bytes()
    assert sniff(path, ".mp4") is None
    assert media_info(path, ffmpeg_media).content_type == "video/mp4"


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
    info = media_info(write(tmp_path / "videos" / "bars and tone.flv", FLV_HEAD), tmp_path)
    key = object_key("media", info.relpath)
    assert stream_name(key, info.extension) == "media/videos/bars and tone"
