"""Duration and picture size of a media file, read from its container headers in pure Python.

`ffprobe` costs a process start and a full demuxer open per file (about a quarter of a second);
publishing thousands of files needs only each item's duration and, for video, its width and
height, which the headers hold. `probe` reads those few fields directly, seeking past media data
rather than reading it, so a multi-gigabyte file costs a handful of small reads.

Supported, by content (magic bytes), not by file name:

* ISO base media (MP4, M4V, MOV, F4V, 3GP): `moov/mvhd` for the duration (`mvex/mehd` for a
  fragmented file whose `mvhd` has none), and `tkhd` of the first video track for the size.
* FLV: the `onMetaData` script tag; without a duration there, the last tag's timestamp.
* MPEG audio (MP3): a Xing/Info or VBRI header's frame count, else the bitrate of the first frame
  (constant bitrate). MP3 has no picture size.

Anything else, and any header that is cut short or malformed, gives `{}`.

Where this can differ from ffprobe: the MP4 size is the track header's display size, which is
the coded size ffprobe reports unless the pixels are not square (anamorphic video); a fragmented
MP4 without `mehd` (ffmpeg's `empty_moov` output) gets no duration, where ffprobe reads the
fragments; a constant-bitrate MP3's length excludes an ID3v1 trailer, which ffprobe counts.
"""

from __future__ import annotations

import logging
import math
import os
import stat
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["probe"]

log = logging.getLogger(__name__)

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_F64 = struct.Struct(">d")
_BOX = struct.Struct(">I4s")
_MVHD_V0 = struct.Struct(">B3xIIII")  # version, creation, modification, timescale, duration
_MVHD_V1 = struct.Struct(">B3xQQIQ")
_TKHD_SIZE_V0 = struct.Struct(">76xII")  # width and height (16.16) after the version 0 fields
_TKHD_SIZE_V1 = struct.Struct(">88xII")
_FLV_HEADER = struct.Struct(">3sBBI")  # "FLV", version, flags, data offset

_ISO_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})
"""Box types an ISO base media / QuickTime file starts with."""

_MAX_BOXES = 100_000
"""Boxes walked on one level before the file is taken as malformed (a guard, not a real limit:
the top level of a fragmented file ends its walk at `moov`, which comes before its fragments)."""

_MAX_DIMENSION = 65_535

_FLV_META_MAX = 1 << 20
"""Bytes of an FLV `onMetaData` tag read at most; the fields sought come first in practice, and
a huge tag (a keyframe index of a long recording) is parsed only as far as this."""

_AMF_MAX_DEPTH = 64

_MP3_SCAN = 64 * 1024
"""Bytes after an ID3v2 tag searched for the first MPEG audio frame."""

_MAX_ID3_TAGS = 16

_MP3_FIRST_SCAN = 4096
"""Bytes after an ID3v2 tag searched first; most files have their first frame right there."""

_MP3_MAX_FRAME = 2_900
"""More than the longest MPEG audio frame (Layer II, 384 kb/s, 32 kHz: 1,729 bytes)."""

# Bitrates in kb/s by [MPEG-1?][layer 1..3][index]; index 0 (free format) and 15 are invalid.
_BITRATES_V1 = (
    (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
)
_BITRATES_V2 = (
    (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
)
# Sample rates by the header's 2-bit version: 0 = MPEG-2.5, 1 reserved, 2 = MPEG-2, 3 = MPEG-1.
_SAMPLE_RATES: dict[int, tuple[int, int, int]] = {
    0: (11025, 12000, 8000),
    2: (22050, 24000, 16000),
    3: (44100, 48000, 32000),
}

# Where a Xing/Info header starts in the first frame (after the 4-byte header and the side
# information), by (MPEG-1?, mono?); a VBRI header is always 32 bytes after the frame header.
_XING_OFFSETS = {(True, False): 36, (True, True): 21, (False, False): 21, (False, True): 13}
_VBRI_OFFSET = 4 + 32


class _Broken(Exception):
    """The header is cut short or malformed: the file gets `{}`."""


class _Reader:
    """Bounded random access to an open file: every read is checked against the file's size."""

    __slots__ = ("file", "size")

    def __init__(self, file: BinaryIO, size: int) -> None:
        self.file = file
        self.size = size

    def at(self, offset: int, count: int) -> bytes:
        """Exactly `count` bytes at `offset`; _Broken when the file ends before them."""
        if offset < 0 or count < 0 or offset + count > self.size:
            raise _Broken(f"{count} bytes at {offset} are past the end ({self.size})")
        self.file.seek(offset)
        data = self.file.read(count)
        if len(data) != count:
            raise _Broken(f"short read at {offset}")
        return data

    def upto(self, offset: int, count: int) -> bytes:
        """Up to `count` bytes at `offset` (fewer at the end of the file)."""
        if offset < 0 or offset >= self.size or count <= 0:
            return b""
        self.file.seek(offset)
        return self.file.read(min(count, self.size - offset))


def probe(path: Path) -> dict[str, Any]:
    """{"duration": float seconds, "width": int, "height": int} with only the keys that could be
    read; {} when the format is unknown or the header is broken. Never raises for bad content
    (OSError for unreadable files may propagate).

    The duration is rounded to milliseconds and present only when positive; width and height
    come as a pair, only for video. The format is recognised by content, not by extension.
    """
    with open(path, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            log.debug("%s is not a regular file; not probing it", path)
            return {}
        reader = _Reader(file, info.st_size)
        head = reader.upto(0, 16)
        try:
            if len(head) >= 8 and head[4:8] in _ISO_FIRST_BOXES:
                return _iso(reader)
            if len(head) >= 9 and head[:3] == b"FLV" and head[3] == 1:
                return _flv(reader)
            if head[:3] == b"ID3" or (len(head) >= 4 and _frame_header(head, 0) is not None):
                return _mp3(reader)
        except (_Broken, struct.error, ValueError, OverflowError) as exc:
            log.debug("cannot read the header of %s: %s", path, exc)
            return {}
    log.debug("%s is not MP4/MOV, FLV or MP3 by its content", path)
    return {}


def _result(
    duration: float | None, width: int | None = None, height: int | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if duration is not None and math.isfinite(duration) and duration > 0:
        out["duration"] = round(duration, 3)
    if (
        width is not None
        and height is not None
        and 0 < width <= _MAX_DIMENSION
        and 0 < height <= _MAX_DIMENSION
    ):
        out["width"] = width
        out["height"] = height
    return out


# ISO base media file format (MP4, MOV, ...) ---------------------------------------------------


def _boxes(reader: _Reader, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload offset, end offset) of each box in [start, end)."""
    pos = start
    count = 0
    while pos + 8 <= end:
        count += 1
        if count > _MAX_BOXES:
            raise _Broken(f"more than {_MAX_BOXES} boxes at {start}")
        size, kind = _BOX.unpack(reader.at(pos, 8))
        header = 8
        if size == 1:
            (size,) = _U64.unpack(reader.at(pos + 8, 8))
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            raise _Broken(f"box {kind!r} at {pos} has size {size}")
        if pos + size > end:
            raise _Broken(f"box {kind!r} at {pos} ends past its parent ({pos + size} > {end})")
        yield kind, pos + header, pos + size
        pos += size


def _iso(reader: _Reader) -> dict[str, Any]:
    for kind, start, end in _boxes(reader, 0, reader.size):
        if kind == b"moov":
            return _moov(reader, start, end)
    raise _Broken("no moov box")


def _moov(reader: _Reader, start: int, end: int) -> dict[str, Any]:
    timescale = 0
    duration = 0
    fragment_duration = 0
    size: tuple[int, int] | None = None
    for kind, pos, box_end in _boxes(reader, start, end):
        if kind == b"mvhd":
            timescale, duration = _mvhd(reader, pos, box_end)
        elif kind == b"mvex":
            for sub, sub_pos, sub_end in _boxes(reader, pos, box_end):
                if sub == b"mehd":
                    fragment_duration = _mehd(reader, sub_pos, sub_end)
        elif kind == b"trak" and size is None:
            size = _video_track_size(reader, pos, box_end)
    # A fragmented file's mvhd usually says 0: its media is in the fragments; mehd (when the
    # writer knew the length) gives it instead.
    ticks = duration or fragment_duration
    seconds = ticks / timescale if timescale and ticks else None
    return _result(seconds, *(size or (None, None)))


def _mvhd(reader: _Reader, start: int, end: int) -> tuple[int, int]:
    """(timescale, duration); a duration of all ones means "unknown" and is returned as 0."""
    version = reader.at(start, 1)[0]
    layout = _MVHD_V1 if version == 1 else _MVHD_V0
    if end - start < layout.size:
        raise _Broken(f"mvhd of {end - start} bytes")
    _, _, _, timescale, duration = layout.unpack(reader.at(start, layout.size))
    if duration == (0xFFFF_FFFF_FFFF_FFFF if version == 1 else 0xFFFF_FFFF):
        duration = 0
    return timescale, duration


def _mehd(reader: _Reader, start: int, end: int) -> int:
    version = reader.at(start, 1)[0]
    width = 8 if version == 1 else 4
    if end - start < 4 + width:
        raise _Broken(f"mehd of {end - start} bytes")
    raw = reader.at(start + 4, width)
    return int.from_bytes(raw, "big")


def _video_track_size(reader: _Reader, start: int, end: int) -> tuple[int, int] | None:
    """(width, height) from tkhd when this trak is video (mdia/hdlr "vide"), else None."""
    size: tuple[int, int] | None = None
    handler = b""
    for kind, pos, box_end in _boxes(reader, start, end):
        if kind == b"tkhd":
            version = reader.at(pos, 1)[0]
            layout = _TKHD_SIZE_V1 if version == 1 else _TKHD_SIZE_V0
            if box_end - pos < layout.size:
                raise _Broken(f"tkhd of {box_end - pos} bytes")
            width, height = layout.unpack(reader.at(pos, layout.size))
            size = (round(width / 65536), round(height / 65536))
        elif kind == b"mdia":
            for sub, sub_pos, sub_end in _boxes(reader, pos, box_end):
                if sub == b"hdlr":
                    # version/flags, pre_defined (QuickTime: component type), handler_type
                    if sub_end - sub_pos < 12:
                        raise _Broken(f"hdlr of {sub_end - sub_pos} bytes")
                    handler = reader.at(sub_pos + 8, 4)
                    break
    return size if handler == b"vide" else None


# FLV --------------------------------------------------------------------------------------


def _flv(reader: _Reader) -> dict[str, Any]:
    _, _, _, data_offset = _FLV_HEADER.unpack(reader.at(0, 9))
    if data_offset < 9:
        raise _Broken(f"FLV data offset {data_offset}")
    tag = data_offset + 4  # after PreviousTagSize0
    header = reader.at(tag, 11)
    meta: dict[str, float] = {}
    if header[0] & 0x1F == 18:  # script data
        data_size = int.from_bytes(header[1:4], "big")
        if tag + 11 + data_size > reader.size:
            raise _Broken("the FLV script tag ends past the end of the file")
        capped = data_size > _FLV_META_MAX
        data = reader.at(tag + 11, min(data_size, _FLV_META_MAX))
        try:
            _on_metadata(data, meta)
        except _Broken:
            if not capped:
                raise
    duration = meta.get("duration")
    if duration is None or not math.isfinite(duration) or duration <= 0:
        duration = _flv_last_timestamp(reader, tag)
    return _result(duration, _dimension(meta.get("width")), _dimension(meta.get("height")))


def _dimension(value: float | None) -> int | None:
    if value is None or not math.isfinite(value) or not 0 < value <= _MAX_DIMENSION:
        return None
    return round(value)


def _flv_last_timestamp(reader: _Reader, first_tag: int) -> float | None:
    """Seconds at the last tag, found through the PreviousTagSize that ends the file."""
    if reader.size < first_tag + 11 + 4:
        return None
    (previous,) = _U32.unpack(reader.at(reader.size - 4, 4))
    tag = reader.size - 4 - previous
    if previous < 11 or tag < first_tag:
        return None
    header = reader.at(tag, 11)
    if header[0] & 0x1F not in (8, 9, 18) or int.from_bytes(header[1:4], "big") + 11 != previous:
        return None
    milliseconds = int.from_bytes(header[4:7], "big") | header[7] << 24
    return milliseconds / 1000 if milliseconds else None


def _on_metadata(data: bytes, out: dict[str, float]) -> None:
    """Put the numbers "duration", "width" and "height" of an onMetaData script tag in `out`."""
    if data[:1] != b"\x02":
        return
    name, pos = _amf_string(data, 1)
    if name != b"onMetaData":
        return
    marker = _byte(data, pos)
    pos += 1
    if marker == 8:  # ECMA array: approximate count, then pairs like an object
        pos += 4
    elif marker != 3:
        return
    while pos < len(data):
        key, pos = _amf_string(data, pos)
        if not key:  # end of object: empty key, then marker 9
            return
        if _byte(data, pos) == 0 and key in (b"duration", b"width", b"height"):
            _need(data, pos + 1, 8)
            (out[key.decode()],) = _F64.unpack_from(data, pos + 1)
            pos += 9
        else:
            pos = _amf_skip(data, pos, 1)


def _byte(data: bytes, pos: int) -> int:
    _need(data, pos, 1)
    return data[pos]


def _need(data: bytes, pos: int, count: int) -> None:
    if pos + count > len(data):
        raise _Broken("the AMF data ends inside a value")


def _amf_string(data: bytes, pos: int) -> tuple[bytes, int]:
    """A 16-bit-length string (no marker) at `pos` and the position after it."""
    _need(data, pos, 2)
    (length,) = _U16.unpack_from(data, pos)
    pos += 2
    _need(data, pos, length)
    return data[pos : pos + length], pos + length


def _amf_skip(data: bytes, pos: int, depth: int) -> int:
    """The position after the AMF0 value (marker included) at `pos`."""
    if depth > _AMF_MAX_DEPTH:
        raise _Broken("AMF values nested too deep")
    marker = _byte(data, pos)
    pos += 1
    if marker == 0:  # number
        skip = 8
    elif marker == 1:  # boolean
        skip = 1
    elif marker == 2:  # string
        return _amf_string(data, pos)[1]
    elif marker in (3, 8, 16):  # object, ECMA array, typed object
        if marker == 8:  # approximate count first
            _need(data, pos, 4)
            pos += 4
        elif marker == 16:  # class name first
            pos = _amf_string(data, pos)[1]
        while True:
            key, pos = _amf_string(data, pos)
            if not key and _byte(data, pos) == 9:
                return pos + 1
            pos = _amf_skip(data, pos, depth + 1)
    elif marker in (5, 6):  # null, undefined
        skip = 0
    elif marker == 7:  # reference
        skip = 2
    elif marker == 10:  # strict array
        _need(data, pos, 4)
        (count,) = _U32.unpack_from(data, pos)
        pos += 4
        for _ in range(count):
            pos = _amf_skip(data, pos, depth + 1)
        return pos
    elif marker == 11:  # date: milliseconds (double) and a 16-bit time zone
        skip = 10
    elif marker in (12, 15):  # long string, XML document
        _need(data, pos, 4)
        (skip,) = _U32.unpack_from(data, pos)
        pos += 4
    else:
        raise _Broken(f"AMF0 marker {marker}")
    _need(data, pos, skip)
    return pos + skip


# MPEG audio (MP3) -------------------------------------------------------------------------


class _Frame:
    """The fields of one MPEG audio frame header that the duration needs."""

    __slots__ = ("bitrate", "length", "mono", "mpeg1", "sample_rate", "samples", "version")

    def __init__(self, b1: int, b2: int, b3: int) -> None:
        version = (b1 >> 3) & 3
        layer = 4 - ((b1 >> 1) & 3)  # 1, 2 or 3
        mpeg1 = version == 3
        self.version = version
        self.mpeg1 = mpeg1
        table = _BITRATES_V1 if mpeg1 else _BITRATES_V2
        self.bitrate = table[layer - 1][b2 >> 4] * 1000
        self.sample_rate = _SAMPLE_RATES[version][(b2 >> 2) & 3]
        padding = (b2 >> 1) & 1
        self.mono = b3 >> 6 == 3
        if layer == 1:
            self.samples = 384
            self.length = (12 * self.bitrate // self.sample_rate + padding) * 4
        else:
            self.samples = 1152 if layer == 2 or mpeg1 else 576
            self.length = self.samples // 8 * self.bitrate // self.sample_rate + padding

    def same_stream(self, other: _Frame) -> bool:
        return self.version == other.version and self.sample_rate == other.sample_rate


def _frame_header(data: bytes, pos: int) -> _Frame | None:
    """The MPEG audio frame header at `pos`, or None when those 4 bytes are not a valid one."""
    if pos + 4 > len(data) or data[pos] != 0xFF:
        return None
    b1, b2, b3 = data[pos + 1], data[pos + 2], data[pos + 3]
    if (
        b1 & 0xE0 != 0xE0  # frame sync
        or (b1 >> 3) & 3 == 1  # reserved version
        or (b1 >> 1) & 3 == 0  # reserved layer
        or b2 >> 4 in (0, 15)  # free format (no fixed length) or invalid bitrate
        or (b2 >> 2) & 3 == 3  # reserved sample rate
    ):
        return None
    return _Frame(b1, b2, b3)


def _mp3(reader: _Reader) -> dict[str, Any]:
    pos = 0
    for _ in range(_MAX_ID3_TAGS):  # ID3v2 tags (a file may have more than one)
        tag = reader.upto(pos, 10)
        if not (
            len(tag) == 10
            and tag[:3] == b"ID3"
            and tag[3] != 0xFF
            and tag[4] != 0xFF
            and all(b < 0x80 for b in tag[6:10])
        ):
            break
        size = tag[6] << 21 | tag[7] << 14 | tag[8] << 7 | tag[9]
        pos += 10 + size + (10 if tag[5] & 0x10 else 0)  # footer present
        if pos > reader.size:
            raise _Broken("the ID3v2 tag ends past the end of the file")
    else:
        raise _Broken(f"more than {_MAX_ID3_TAGS} ID3v2 tags")

    audio_end = reader.size
    if audio_end - pos >= 128 and reader.at(audio_end - 128, 3) == b"TAG":  # ID3v1
        audio_end -= 128

    # The first frame: a sync whose frame fits and is followed by another frame of the same
    # stream (or by the end of the audio). Without an ID3v2 tag it must be at the very start;
    # after one, padding is searched: the first few KiB, then the rest of _MP3_SCAN.
    searched = 0
    for scan in (1,) if pos == 0 else (min(_MP3_FIRST_SCAN, _MP3_SCAN), _MP3_SCAN):
        if scan <= searched:
            continue
        window = reader.upto(pos, scan + _MP3_MAX_FRAME)
        limit = min(len(window) - 3, scan)
        i = window.find(b"\xff", searched, limit)
        while 0 <= i < limit:
            frame = _frame_header(window, i)
            if frame is not None and _is_followed(reader, window, pos, i, frame, audio_end):
                return _mp3_duration(reader, frame, pos + i, audio_end)
            i = window.find(b"\xff", i + 1, limit)
        searched = max(limit, 0)
    raise _Broken("no MPEG audio frame")


def _is_followed(
    reader: _Reader, window: bytes, pos: int, i: int, frame: _Frame, audio_end: int
) -> bool:
    """Whether the frame at `window[i]` (file offset `pos + i`) fits in the audio and is followed
    by a frame of the same stream or by the end of the audio: a sync pattern alone is too weak."""
    after = pos + i + frame.length
    if after > audio_end:
        return False
    if after + 4 > audio_end:
        return True
    if after - pos + 4 <= len(window):
        following = window[after - pos : after - pos + 4]
    else:
        following = reader.at(after, 4)
    other = _frame_header(following, 0)
    return other is not None and frame.same_stream(other)


def _mp3_duration(reader: _Reader, frame: _Frame, start: int, audio_end: int) -> dict[str, Any]:
    data = reader.at(start, frame.length)
    xing = _XING_OFFSETS[frame.mpeg1, frame.mono]
    frames = 0
    if data[xing : xing + 4] in (b"Xing", b"Info") and xing + 12 <= len(data):
        (flags,) = _U32.unpack_from(data, xing + 4)
        if flags & 1:
            (frames,) = _U32.unpack_from(data, xing + 8)
    elif data[_VBRI_OFFSET : _VBRI_OFFSET + 4] == b"VBRI" and len(data) >= _VBRI_OFFSET + 18:
        (frames,) = _U32.unpack_from(data, _VBRI_OFFSET + 14)
    if frames:
        return _result(frames * frame.samples / frame.sample_rate)
    return _result((audio_end - start) * 8 / frame.bitrate)
