"""Extra files that make an item play in today's browsers, made with ffmpeg without re-encoding.

- FLV does not play in browsers: an H.264/AAC FLV is remuxed into an MP4 beside it, and that is
  what pages play (the FLV and its RTMP URL stay as published).
- Video items get a poster frame (JPEG) for the index and the player.
- With `[hls] enabled = true`, H.264/AAC items are also packaged as HLS (`-c copy`).

Without ffmpeg these are skipped, and mediapub says so once.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

FFMPEG_TIMEOUT = 300
MP4_SUFFIX = ".mp4"
POSTER_SUFFIX = ".poster.jpg"
HLS_SUFFIX = ".hls/"
HLS_PLAYLIST = "index.m3u8"
FFMPEG_MISSING = (
    "ffmpeg is not installed, so FLV items are not remuxed to MP4 for browsers, videos get no "
    "poster frame and HLS is not packaged. Install it with: apt-get install ffmpeg"
)
_warned = threading.Event()


@dataclass(frozen=True)
class Rendition:
    """One derived file: what it is for, its key beside the item, and the local file."""

    kind: str  # "mp4" | "poster" | "hls"
    key: str
    path: Path
    content_type: str


def ffmpeg() -> str | None:
    found = shutil.which("ffmpeg")
    if found is None and not _warned.is_set():
        _warned.set()
        log.warning("%s", FFMPEG_MISSING)
    return found


def _run(command: list[str]) -> bool:
    try:
        done = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        log.warning("ffmpeg took longer than %d s: %s", FFMPEG_TIMEOUT, command[-1])
        return False
    if done.returncode != 0:
        log.info("ffmpeg failed (%s): %s", command[-1], done.stderr.decode(errors="replace")[-400:])
    return done.returncode == 0


def remux_to_mp4(ffmpeg_path: str, source: Path, target: Path) -> bool:
    """Copy H.264/AAC streams into an MP4 with the index first (plays while downloading)."""
    command = [ffmpeg_path, "-v", "error", "-y", "-i", str(source), "-map", "0:v:0"]
    command += ["-map", "0:a:0?", "-c", "copy", "-movflags", "+faststart", "-f", "mp4"]
    return _run([*command, str(target)])


def poster(ffmpeg_path: str, source: Path, target: Path, duration: float | None) -> bool:
    """One frame, a second in (or at the start of short clips), 640 pixels wide at most."""
    offset = "1" if (duration or 0) > 2 else "0"
    command = [ffmpeg_path, "-v", "error", "-y", "-ss", offset, "-i", str(source)]
    command += ["-frames:v", "1", "-vf", "scale='min(640,iw)':-2", "-q:v", "4", "-f", "image2"]
    return _run([*command, str(target)])


def package_hls(ffmpeg_path: str, source: Path, folder: Path) -> bool:
    """HLS without re-encoding; segments are cut at keyframes."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [ffmpeg_path, "-v", "error", "-y", "-i", str(source), "-c", "copy", "-f", "hls"]
    command += ["-hls_playlist_type", "vod", "-hls_time", "4"]
    command += ["-hls_segment_filename", str(folder / "segment%04d.ts")]
    return _run([*command, str(folder / HLS_PLAYLIST)])


def make(
    source: Path, key: str, kind: str, content_type: str, duration: float | None,
    workdir: Path, hls: bool,
) -> list[Rendition]:  # fmt: skip
    """The renditions of one item, made in `workdir`; empty without ffmpeg or for audio."""
    if kind != "video":
        return []
    ffmpeg_path = ffmpeg()
    if ffmpeg_path is None:
        return []
    made: list[Rendition] = []
    playable = source
    if content_type == "video/x-flv":
        mp4 = workdir / "remux.mp4"
        if remux_to_mp4(ffmpeg_path, source, mp4):
            made.append(Rendition("mp4", key + MP4_SUFFIX, mp4, "video/mp4"))
            playable = mp4
    image = workdir / "poster.jpg"
    if poster(ffmpeg_path, playable, image, duration):
        made.append(Rendition("poster", key + POSTER_SUFFIX, image, "image/jpeg"))
    if hls and package_hls(ffmpeg_path, playable, workdir / "hls"):
        for file in sorted((workdir / "hls").iterdir()):
            content_type = (
                "application/vnd.apple.mpegurl" if file.suffix == ".m3u8" else "video/mp2t"
            )
            made.append(Rendition("hls", key + HLS_SUFFIX + file.name, file, content_type))
    return made
