"""Tests for pipeline.probe: durations and picture sizes read from container headers, checked
against ffprobe on the sample media and on files made with ffmpeg, on hand-built headers for the
layouts ffmpeg does not write, and on broken and foreign files, which must give {}."""

from __future__ import annotations

import io
import json
import logging
import random
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import pipeline.probe as probe_module
from pipeline.probe import probe

from .conftest import need

SAMPLES = Path(__file__).resolve().parent.parent / "sample_media"
SAMPLE_FILES = {
    "clip.mp4": True,  # name: has video
    "videos/bars and tone.flv": True,
    "audio/tone.mp3": False,
}
TOLERANCE = 0.05
"""Seconds a duration may differ from ffprobe's."""

log = logging.getLogger(__name__)


# Helpers ------------------------------------------------------------------------------------


def ffprobe(path: Path) -> dict[str, Any]:
    """ffprobe's format duration and the size of the first stream that has one."""
    done = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=width,height",
            "-of",
            "json",
            "file:" + str(path),
        ],
        capture_output=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    data = json.loads(done.stdout)
    out: dict[str, Any] = {}
    if "duration" in data.get("format", {}):
        out["duration"] = float(data["format"]["duration"])
    for stream in data.get("streams", []):
        if "width" in stream:
            out["width"] = stream["width"]
            out["height"] = stream["height"]
            break
    return out


def assert_shape(info: dict[str, Any]) -> None:
    """What probe() returns: only known keys, of the promised types, sizes as a pair."""
    assert isinstance(info, dict)
    assert set(info) <= {"duration", "width", "height"}
    if "duration" in info:
        assert type(info["duration"]) is float
        assert info["duration"] > 0
        assert round(info["duration"], 3) == info["duration"]
    assert ("width" in info) == ("height" in info)
    if "width" in info:
        assert type(info["width"]) is int and info["width"] > 0
        assert type(info["height"]) is int and info["height"] > 0


def assert_matches_ffprobe(path: Path, *, video: bool, duration_optional: bool = False) -> None:
    got = probe(path)
    want = ffprobe(path)
    assert_shape(got)
    if not (duration_optional and "duration" not in got):
        assert "duration" in got, f"{path.name}: no duration (ffprobe: {want})"
        assert got["duration"] == pytest.approx(want["duration"], abs=TOLERANCE), path.name
    if video:
        assert (got.get("width"), got.get("height")) == (want["width"], want["height"]), path.name
    else:
        # MP3 has no picture size, not even with cover art (which ffprobe shows as a stream).
        assert "width" not in got and "height" not in got


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def video_input(size: str, seconds: float) -> list[str]:
    return [
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate=25:duration={seconds}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate=44100:duration={seconds}",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
    ]


def tone(seconds: float, rate: int, channels: int) -> list[str]:
    return [
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate={rate}:duration={seconds}",
        "-ac",
        str(channels),
        "-c:a",
        "libmp3lame",
    ]


# ISO base media boxes, built by hand.


def box(kind: bytes, *children: bytes) -> bytes:
    body = b"".join(children)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, body: bytes) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]), body)


FTYP = box(b"ftyp", b"isom", b"\0\0\2\0", b"isomiso2mp41")


def mvhd(timescale: int, duration: int, version: int = 0) -> bytes:
    if version == 1:
        times = struct.pack(">QQIQ", 1, 2, timescale, duration)
    else:
        times = struct.pack(">IIII", 1, 2, timescale, duration)
    return full_box(b"mvhd", version, times + bytes(80))


def tkhd(width: float, height: float, version: int = 0) -> bytes:
    if version == 1:
        times = struct.pack(">QQIIQ", 1, 2, 1, 0, 123_456_789_012)
    else:
        times = struct.pack(">IIIII", 1, 2, 1, 0, 1234)
    size = struct.pack(">II", int(width * 65536), int(height * 65536))
    return full_box(b"tkhd", version, times + bytes(52) + size)


def hdlr(handler: bytes, component: bytes = b"\0\0\0\0") -> bytes:
    return full_box(b"hdlr", 0, component + handler + bytes(12) + b"handler\0")


def trak(
    handler: bytes, width: float, height: float, *, version: int = 0, qt: bool = False
) -> bytes:
    component = b"mhlr" if qt else b"\0\0\0\0"
    return box(
        b"trak",
        tkhd(width, height, version),
        box(b"mdia", full_box(b"mdhd", 0, bytes(20)), hdlr(handler, component)),
    )


# FLV and AMF0, built by hand.


def amf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def amf_number(value: float) -> bytes:
    return b"\x00" + struct.pack(">d", value)


def amf_pairs(pairs: list[tuple[str, bytes]]) -> bytes:
    return b"".join(amf_string(k) + v for k, v in pairs) + b"\x00\x00\x09"


def flv_tag(kind: int, timestamp_ms: int, data: bytes) -> bytes:
    header = (
        bytes([kind])
        + len(data).to_bytes(3, "big")
        + (timestamp_ms & 0xFFFFFF).to_bytes(3, "big")
        + bytes([timestamp_ms >> 24])
        + bytes(3)
    )
    return header + data + struct.pack(">I", 11 + len(data))


def flv(*tags: bytes) -> bytes:
    return b"FLV\x01\x05" + struct.pack(">I", 9) + bytes(4) + b"".join(tags)


def on_metadata(value: bytes) -> bytes:
    return b"\x02" + amf_string("onMetaData") + value


# MPEG audio frames, built by hand: MPEG-1 Layer III, 128 kb/s, 44.1 kHz, stereo, no padding.
FRAME_HEADER = b"\xff\xfb\x90\x00"
FRAME_LENGTH = 417  # 144 * 128000 // 44100


def mp3_frames(count: int) -> bytes:
    return (FRAME_HEADER + bytes(FRAME_LENGTH - 4)) * count


def id3v2(body_size: int, *, footer: bool = False) -> bytes:
    size = bytes((body_size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    flags = 0x10 if footer else 0
    tag = b"ID3\x04\x00" + bytes([flags]) + size + bytes(body_size)
    if footer:
        tag += b"3DI\x04\x00" + bytes([flags]) + size
    return tag


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# The sample media ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SAMPLE_FILES))
def test_sample_media_matches_ffprobe(name: str) -> None:
    need("ffprobe")
    assert_matches_ffprobe(SAMPLES / name, video=SAMPLE_FILES[name])


def test_sample_media_known_values() -> None:
    """The values the sample_media README documents, without needing ffprobe."""
    assert probe(SAMPLES / "clip.mp4") == {"duration": 4.0, "width": 320, "height": 180}
    assert probe(SAMPLES / "videos/bars and tone.flv") == {
        "duration": 4.08,
        "width": 320,
        "height": 180,
    }
    assert probe(SAMPLES / "audio/tone.mp3") == {"duration": 4.049}


# Files made with ffmpeg ---------------------------------------------------------------------

# name -> (ffmpeg arguments before the output, has video, duration may be absent)
GENERATED: dict[str, tuple[list[str], bool, bool]] = {
    "moov_at_end.mp4": (video_input("352x288", 3), True, False),
    "quicktime.mov": ([*video_input("426x240", 2.5), "-f", "mov"], True, False),
    "fragmented.mp4": (
        [
            *video_input("320x240", 3),
            "-g",
            "25",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
        ],
        True,
        True,
    ),
    "metadata.flv": ([*video_input("240x160", 3.5), "-f", "flv"], True, False),
    "cbr_no_xing.mp3": ([*tone(3.3, 44100, 1), "-b:a", "128k", "-write_xing", "0"], False, False),
    "vbr_xing.mp3": ([*tone(3.3, 44100, 2), "-q:a", "4"], False, False),
    "id3v2_big_title.mp3": (
        [*tone(2.2, 44100, 1), "-id3v2_version", "3", "-metadata", "title=" + "T" * 100_000],
        False,
        False,
    ),
    "mpeg1_48k.mp3": ([*tone(2.7, 48000, 2), "-q:a", "2"], False, False),
    "mpeg1_48k_cbr.mp3": ([*tone(2.7, 48000, 2), "-b:a", "192k", "-write_xing", "0"], False, False),
    "mpeg2_22k.mp3": ([*tone(3.1, 22050, 1), "-q:a", "6"], False, False),
    "mpeg2_22k_stereo.mp3": ([*tone(3.1, 22050, 2), "-b:a", "64k"], False, False),
    "mpeg2_22k_cbr.mp3": ([*tone(3.1, 22050, 2), "-b:a", "48k", "-write_xing", "0"], False, False),
    "mpeg25_8k.mp3": ([*tone(2.9, 8000, 1), "-b:a", "16k"], False, False),
    "cbr_id3v1.mp3": (
        [
            *tone(5.0, 44100, 1),
            *("-b:a", "64k", "-write_xing", "0", "-write_id3v1", "1", "-metadata", "title=x"),
        ],
        False,
        False,
    ),
}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Make one of GENERATED (once per module) and return its path."""
    folder = tmp_path_factory.mktemp("probe-media")

    def make(name: str) -> Path:
        path = folder / name
        if not path.exists():
            ffmpeg(*GENERATED[name][0], str(path))
        return path

    return make


@pytest.mark.parametrize("name", list(GENERATED))
def test_generated_matches_ffprobe(name: str, made: Callable[[str], Path]) -> None:
    need("ffmpeg", "ffprobe")
    _, video, duration_optional = GENERATED[name]
    assert_matches_ffprobe(made(name), video=video, duration_optional=duration_optional)


def test_moov_after_mdat_is_found(made: Callable[[str], Path]) -> None:
    need("ffmpeg", "ffprobe")
    for name in ("moov_at_end.mp4", "quicktime.mov"):
        data = made(name).read_bytes()
        assert data.find(b"moov") > data.find(b"mdat") > 0, f"{name}: moov is not at the end"
        assert "duration" in probe(made(name))


def test_flv_written_to_a_pipe_uses_the_last_tag(tmp_path: Path) -> None:
    need("ffmpeg", "ffprobe")
    path = tmp_path / "piped.flv"
    with path.open("wb") as out:
        subprocess.run(
            [
                "ffmpeg",
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "error",
                *video_input("320x240", 3),
                "-f",
                "flv",
                "pipe:1",
            ],
            stdout=out,
            check=True,
            stdin=subprocess.DEVNULL,
        )
    data = path.read_bytes()
    # The muxer could not go back to fill in the duration: onMetaData says 0.
    at = data.index(b"duration")
    assert data[at + 8 : at + 17] == amf_number(0.0)
    assert_matches_ffprobe(path, video=True)


def test_mp3_with_cover_art(tmp_path: Path) -> None:
    """A big ID3v2 tag (a noisy 600x600 PNG, about 1 MB) is skipped by its size, not scanned."""
    need("ffmpeg", "ffprobe")
    path = tmp_path / "cover.mp3"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=600x600:d=1,noise=alls=100:allf=t",
        *tone(3.3, 44100, 2),
        "-map",
        "1:a",
        "-map",
        "0:v",
        "-frames:v",
        "1",
        "-c:v",
        "png",
        "-disposition:v",
        "attached_pic",
        "-id3v2_version",
        "3",
        "-metadata",
        "title=With a cover",
        str(path),
    )
    assert path.stat().st_size > 500_000
    assert_matches_ffprobe(path, video=False)


# ISO base media layouts ffmpeg does not write for short clips -------------------------------


def test_iso_version_1_boxes(tmp_path: Path) -> None:
    moov = box(
        b"moov",
        mvhd(90_000, 90_000 * 7200 + 45_000, version=1),
        trak(b"vide", 1920, 1080, version=1),
    )
    assert probe(write(tmp_path, "v1.mp4", FTYP + moov)) == {
        "duration": 7200.5,
        "width": 1920,
        "height": 1080,
    }


def test_iso_first_video_track_wins(tmp_path: Path) -> None:
    moov = box(
        b"moov",
        mvhd(600, 600 * 12),
        trak(b"soun", 0, 0),
        trak(b"vide", 640, 360),
        trak(b"vide", 1280, 720),
    )
    assert probe(write(tmp_path, "tracks.m4v", FTYP + moov)) == {
        "duration": 12.0,
        "width": 640,
        "height": 360,
    }


def test_iso_quicktime_handler_and_no_ftyp(tmp_path: Path) -> None:
    """Old QuickTime files start with wide/mdat and name a component type in hdlr."""
    moov = box(b"moov", mvhd(600, 1234), trak(b"vide", 720, 480, qt=True))
    data = box(b"wide") + box(b"mdat", bytes(1000)) + moov
    assert probe(write(tmp_path, "old.mov", data)) == {
        "duration": 2.057,
        "width": 720,
        "height": 480,
    }


def test_iso_audio_only_has_no_size(tmp_path: Path) -> None:
    moov = box(b"moov", mvhd(44100, 44100 * 3), trak(b"soun", 0, 0))
    assert probe(write(tmp_path, "audio.m4a", FTYP + moov)) == {"duration": 3.0}


def test_iso_box_to_end_of_file(tmp_path: Path) -> None:
    """A size of 0 means "to the end of the file": moov first, then an open-ended mdat."""
    moov = box(b"moov", mvhd(1000, 1500), trak(b"vide", 320, 240))
    data = FTYP + moov + struct.pack(">I4s", 0, b"mdat") + bytes(5000)
    assert probe(write(tmp_path, "open.mp4", data)) == {
        "duration": 1.5,
        "width": 320,
        "height": 240,
    }


def test_iso_huge_mdat_is_seeked_past(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 5 GiB mdat with a 64-bit largesize before moov (a sparse file): only headers are read."""
    mdat_payload = 5 << 30
    moov = box(b"moov", mvhd(1000, 3_600_000), trak(b"vide", 3840, 2160))
    path = tmp_path / "huge.mp4"
    with path.open("wb") as out:
        out.write(FTYP + struct.pack(">I4sQ", 1, b"mdat", 16 + mdat_payload))
        out.seek(mdat_payload, io.SEEK_CUR)
        out.write(moov)
    assert path.stat().st_size > mdat_payload

    read = 0

    class CountingFile(io.FileIO):
        def readinto(self, buffer: Any) -> int | None:
            nonlocal read
            count = super().readinto(buffer)
            read += count or 0
            return count

    def counting_open(file: Path, mode: str = "rb") -> io.BufferedReader:
        assert mode == "rb"
        return io.BufferedReader(CountingFile(file, "rb"))

    monkeypatch.setattr(probe_module, "open", counting_open, raising=False)
    assert probe(path) == {"duration": 3600.0, "width": 3840, "height": 2160}
    assert 0 < read < 64 * 1024


def test_iso_fragmented_duration_from_mehd(tmp_path: Path) -> None:
    for version, raw in ((0, struct.pack(">I", 9_000)), (1, struct.pack(">Q", 9_000))):
        moov = box(
            b"moov",
            mvhd(1000, 0),
            trak(b"vide", 640, 480),
            box(b"mvex", full_box(b"mehd", version, raw), full_box(b"trex", 0, bytes(20))),
        )
        info = probe(write(tmp_path, f"frag{version}.mp4", FTYP + moov + box(b"moof")))
        assert info == {"duration": 9.0, "width": 640, "height": 480}


def test_iso_fragmented_without_mehd_has_no_duration(tmp_path: Path) -> None:
    moov = box(b"moov", mvhd(1000, 0), trak(b"vide", 640, 480), box(b"mvex"))
    info = probe(write(tmp_path, "frag.mp4", FTYP + moov + box(b"moof") + box(b"mdat")))
    assert info == {"width": 640, "height": 480}


def test_iso_unknown_duration_is_left_out(tmp_path: Path) -> None:
    moov = box(b"moov", mvhd(1000, 0xFFFFFFFF), trak(b"vide", 640, 480))
    assert probe(write(tmp_path, "unknown.mp4", FTYP + moov)) == {"width": 640, "height": 480}
    moov = box(b"moov", mvhd(0, 5000))
    assert probe(write(tmp_path, "no-timescale.mp4", FTYP + moov)) == {}


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(FTYP + struct.pack(">I4s", 4, b"moov") + bytes(200), id="size-below-header"),
        pytest.param(FTYP + struct.pack(">I4sQ", 1, b"moov", 8) + bytes(200), id="largesize-small"),
        pytest.param(FTYP + box(b"mdat", bytes(100)), id="no-moov"),
        pytest.param(FTYP + box(b"moov", mvhd(1000, 1000))[:-10], id="moov-past-end-of-file"),
        pytest.param(
            FTYP + box(b"moov", struct.pack(">I4s", 500, b"mvhd") + bytes(100)),
            id="child-past-parent",
        ),
        pytest.param(FTYP + box(b"moov", box(b"mvhd", b"\0\0\0\0")), id="short-mvhd"),
        pytest.param(
            FTYP + box(b"moov", mvhd(1000, 1000), box(b"trak", box(b"tkhd", bytes(20)))),
            id="short-tkhd",
        ),
        pytest.param(
            FTYP + box(b"free") * 100_001 + box(b"moov", mvhd(1000, 1000)), id="too-many-boxes"
        ),
    ],
)
def test_iso_malformed(tmp_path: Path, data: bytes) -> None:
    assert probe(write(tmp_path, "bad.mp4", data)) == {}


# FLV layouts ----------------------------------------------------------------------------------


def test_flv_skips_every_amf0_type(tmp_path: Path) -> None:
    """The wanted numbers come after values of every AMF0 type, in an object (marker 3)."""
    nested = b"\x03" + amf_pairs([("a", amf_number(1)), ("b", b"\x05")])
    ecma = b"\x08" + struct.pack(">I", 2) + amf_pairs([("x", b"\x01\x01"), ("y", b"\x06")])
    strict = b"\x0a" + struct.pack(">I", 3) + amf_number(1) + b"\x02" + amf_string("s") + nested
    long_string = b"\x0c" + struct.pack(">I", 70_000) + b"L" * 70_000
    meta = b"\x03" + amf_pairs(
        [
            ("hasVideo", b"\x01\x01"),
            ("encoder", b"\x02" + amf_string("Lavf")),
            ("nothing", b"\x05"),
            ("undefined", b"\x06"),
            ("nested", nested),
            ("ecma", ecma),
            ("keyframes", strict),
            ("created", b"\x0b" + struct.pack(">dh", 1.7e12, 0)),
            ("comment", long_string),
            ("framerate", amf_number(25)),
            ("duration", amf_number(5025.125)),
            ("width", amf_number(1280)),
            ("height", amf_number(720)),
        ]
    )
    data = flv(flv_tag(18, 0, on_metadata(meta)), flv_tag(9, 0, bytes(20)))
    assert probe(write(tmp_path, "types.flv", data)) == {
        "duration": 5025.125,
        "width": 1280,
        "height": 720,
    }


def test_flv_without_metadata_uses_the_last_timestamp(tmp_path: Path) -> None:
    """No script tag first: the last tag's timestamp, with its extended (high) byte."""
    last = 0x01_23_45_67  # ms; needs the extended byte
    data = flv(flv_tag(9, 0, bytes(30)), flv_tag(8, 40, bytes(10)), flv_tag(9, last, bytes(30)))
    assert probe(write(tmp_path, "no-meta.flv", data)) == {"duration": last / 1000}


def test_flv_zero_duration_and_bad_last_tag(tmp_path: Path) -> None:
    meta = (
        b"\x08"
        + struct.pack(">I", 3)
        + amf_pairs(
            [("duration", amf_number(0)), ("width", amf_number(400)), ("height", amf_number(300))]
        )
    )
    data = flv(flv_tag(18, 0, on_metadata(meta)), flv_tag(9, 2000, bytes(30)))
    path = write(tmp_path, "zero.flv", data)
    assert probe(path) == {"duration": 2.0, "width": 400, "height": 300}
    # A PreviousTagSize that does not lead to a tag: no duration, the size is still known.
    path.write_bytes(data[:-4] + struct.pack(">I", 7))
    assert probe(path) == {"width": 400, "height": 300}


def test_flv_audio_only(tmp_path: Path) -> None:
    meta = b"\x08" + struct.pack(">I", 1) + amf_pairs([("duration", amf_number(61.5))])
    data = flv(flv_tag(18, 0, on_metadata(meta)), flv_tag(8, 0, bytes(10)))
    assert probe(write(tmp_path, "audio.flv", data)) == {"duration": 61.5}


@pytest.mark.parametrize(
    "meta",
    [
        pytest.param(b"\x03" + amf_string("duration") + b"\x0e" + bytes(20), id="unknown-marker"),
        pytest.param(b"\x03" + amf_string("duration") + b"\x00\x40", id="cut-number"),
        pytest.param(
            b"\x03" + amf_string("a") + b"\x0a" + struct.pack(">I", 1_000_000), id="strict-array"
        ),
        pytest.param(b"\x03" + (amf_string("a") + b"\x03") * 1000, id="deep-nesting"),
    ],
)
def test_flv_malformed_metadata(tmp_path: Path, meta: bytes) -> None:
    data = flv(flv_tag(18, 0, on_metadata(meta)))
    assert probe(write(tmp_path, "bad.flv", data)) == {}


# MP3 layouts ----------------------------------------------------------------------------------


def test_mp3_vbri_header(tmp_path: Path) -> None:
    first = bytearray(mp3_frames(1))
    vbri = b"VBRI" + struct.pack(">HHHII", 1, 1000, 75, 1_000_000, 2_000)
    first[36 : 36 + len(vbri)] = vbri
    path = write(tmp_path, "vbri.mp3", bytes(first) + mp3_frames(20))
    assert probe(path) == {"duration": round(2_000 * 1152 / 44100, 3)}


def test_mp3_id3v2_footer_and_id3v1(tmp_path: Path) -> None:
    """ID3v2.4 with a footer is skipped whole; a 128-byte ID3v1 trailer is not audio."""
    frames = mp3_frames(100)
    expected = {"duration": round(len(frames) * 8 / 128_000, 3)}
    path = write(tmp_path, "footer.mp3", id3v2(3000, footer=True) + frames)
    assert probe(path) == expected
    path = write(tmp_path, "v1.mp3", id3v2(50) + frames + b"TAG" + bytes(125))
    assert probe(path) == expected
    path = write(tmp_path, "two-tags.mp3", id3v2(50) + id3v2(70_000) + frames)
    assert probe(path) == expected


@pytest.mark.parametrize("padding", [0, 4000, 10_000, 60_000])
def test_mp3_padding_after_id3v2_is_scanned(tmp_path: Path, padding: int) -> None:
    data = id3v2(100) + bytes(padding) + b"\xff\x00" + mp3_frames(40)
    path = write(tmp_path, "padded.mp3", data)
    assert probe(path) == {"duration": round(40 * FRAME_LENGTH * 8 / 128_000, 3)}


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(id3v2(100), id="tag-only"),
        pytest.param(id3v2(0) * 17 + mp3_frames(3), id="too-many-tags"),
        pytest.param(id3v2(100)[:10] + bytes(20), id="tag-past-end"),
        pytest.param(id3v2(100) + bytes(70_000) + mp3_frames(3), id="frames-too-far"),
        pytest.param(mp3_frames(1)[:300], id="cut-first-frame"),
        pytest.param(FRAME_HEADER + bytes(FRAME_LENGTH), id="no-second-frame"),
        pytest.param(b"\xff\xfb\x00\x00" + bytes(1000), id="free-format"),
        pytest.param(b"\xff\xf1\x50\x80" + bytes(1000), id="adts-aac"),
    ],
)
def test_mp3_malformed(tmp_path: Path, data: bytes) -> None:
    assert probe(write(tmp_path, "bad.mp3", data)) == {}


# Broken and foreign files ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SAMPLE_FILES))
def test_truncated_samples(tmp_path: Path, name: str) -> None:
    data = (SAMPLES / name).read_bytes()[:100]
    assert probe(write(tmp_path, Path(name).name, data)) == {}


def test_random_empty_and_text_files(tmp_path: Path) -> None:
    rng = random.Random(20240601)
    assert probe(write(tmp_path, "random.mp4", rng.randbytes(65_536))) == {}
    assert probe(write(tmp_path, "empty.mp3", b"")) == {}
    assert probe(write(tmp_path, "notes.flv", b"FL")) == {}
    assert probe(SAMPLES / "README.md") == {}
    assert probe(SAMPLES / "make.sh") == {}


def test_not_a_regular_file_and_unreadable(tmp_path: Path) -> None:
    assert probe(Path("/dev/null")) == {}
    with pytest.raises(OSError):
        probe(tmp_path / "missing.mp4")


def test_damaged_files_never_raise(tmp_path: Path) -> None:
    """Cuts at many lengths and random byte damage: a dict of the promised shape, no exception."""
    rng = random.Random(7)
    path = tmp_path / "damaged"
    prefixes = [b"ID3\x03\x00\x00", b"FLV\x01\x05\x00\x00\x00\x09", FTYP, FRAME_HEADER]
    for name in SAMPLE_FILES:
        data = (SAMPLES / name).read_bytes()
        cuts = [*range(0, 600, 7), *rng.sample(range(len(data)), 40)]
        for cut in cuts:
            path.write_bytes(data[:cut])
            assert_shape(probe(path))
        for _ in range(150):
            damaged = bytearray(data[:8000])
            for _ in range(rng.randint(1, 8)):
                damaged[rng.randrange(min(len(damaged), 600))] = rng.randrange(256)
            path.write_bytes(bytes(damaged))
            assert_shape(probe(path))
    for prefix in prefixes:
        for _ in range(100):
            path.write_bytes(prefix + rng.randbytes(rng.randrange(2000)))
            assert_shape(probe(path))


def test_probing_samples_many_times(caplog: pytest.LogCaptureFixture) -> None:
    """Speed is measured in benchmarks, not asserted here: this runs the loop and logs it."""
    paths = [SAMPLES / name for name in SAMPLE_FILES]
    first = [probe(path) for path in paths]
    started = time.perf_counter()
    for _ in range(1000):
        for path in paths:
            probe(path)
    elapsed = time.perf_counter() - started
    with caplog.at_level(logging.INFO):
        log.info(
            "%d probes in %.3f s (%.1f us each)",
            1000 * len(paths),
            elapsed,
            elapsed / (1000 * len(paths)) * 1e6,
        )
    assert [probe(path) for path in paths] == first
