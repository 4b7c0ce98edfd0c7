"""Check that the URLs a render produced really play: HTTP(S) fetches and ffprobe on RTMP."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

FFPROBE_TIMEOUT = 20.0


@dataclass(frozen=True)
class Check:
    url: str
    kind: str  # "http" | "rtmp"
    ok: bool
    detail: str


def check_http(url: str, content_type: str = "") -> Check:
    """GET the first bytes of `url` anonymously; expect 200/206 and the content type."""
    request = urllib.request.Request(url, headers={"Range": "bytes=0-1023"})
    try:
        with urllib.request.urlopen(request, timeout=15) as reply:
            got = reply.headers.get("Content-Type", "")
            reply.read()
            ok = not content_type or got.split(";")[0] == content_type.split(";")[0]
            return Check(url, "http", ok, f"{reply.status} {got}")
    except urllib.error.HTTPError as exc:
        return Check(url, "http", False, f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError) as exc:
        return Check(url, "http", False, str(getattr(exc, "reason", exc)))


def check_rtmp(url: str) -> Check:
    """Ask ffprobe for the streams behind an RTMP URL."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return Check(url, "rtmp", False, "ffprobe is not installed (apt-get install ffmpeg)")
    command = [ffprobe, "-v", "error", "-show_entries", "stream=codec_type", "-of", "json", url]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=FFPROBE_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return Check(url, "rtmp", False, f"ffprobe timed out after {FFPROBE_TIMEOUT:.0f} s")
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return Check(url, "rtmp", False, lines[-1] if lines else "ffprobe failed")
    streams = [s.get("codec_type", "") for s in json.loads(done.stdout or "{}").get("streams", [])]
    return Check(url, "rtmp", bool(streams), "streams: " + ", ".join(streams))


def check_manifest(manifest: dict[str, Any]) -> list[Check]:
    """Every item's HTTP and RTMP URL, plus the index, player and crossdomain.xml."""
    checks = []
    for item in manifest.get("items", []):
        checks.append(check_http(item["http_url"], item["content_type"]))
        for extra, content_type in (
            ("play_url", ""),
            ("poster_url", "image/jpeg"),
            ("hls_url", "application/vnd.apple.mpegurl"),
        ):
            if item.get(extra) and item[extra] != item["http_url"]:
                checks.append(check_http(item[extra], content_type))
        if item.get("rtmp_url"):
            checks.append(check_rtmp(item["rtmp_url"]))
    for name in ("index_url", "player_url", "crossdomain_url"):
        if manifest.get(name):
            checks.append(check_http(manifest[name]))
    return checks
