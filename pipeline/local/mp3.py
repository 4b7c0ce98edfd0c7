"""MP3 over the local RTMP edge.

CloudFront's RTMP servers played `mp3:<key without .mp3>` streams; nginx-rtmp, the local RTMP
edge, reads only FLV and MP4. It asks its play locations for `mp3:<name>.flv`, so the edge lists
this small HTTP server after the S3 origin: for such a name it fetches `<name>.mp3` from S3
anonymously (so object permissions still apply) and answers with the same audio in an FLV
container, copied without re-encoding (FLV carries MP3 natively).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from pipeline.local.ports import LoopbackService
from pipeline.local.s3 import IDENTITY_AUTHORIZATION

IDENTITY_PATH = "/identity"

log = logging.getLogger(__name__)

FFMPEG_TIMEOUT = 60


def mp3_key(name: str) -> str | None:
    """`mp3:media/audio/tone.flv` -> `media/audio/tone.mp3`; None for other names."""
    if not name.startswith("mp3:") or not name.endswith(".flv"):
        return None
    return name[len("mp3:") : -len(".flv")] + ".mp3"


def remux_to_flv(source: Path, target: Path) -> bool:
    """Copy the MP3 audio of `source` into an FLV file; False when ffmpeg cannot."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        log.info("ffmpeg is not installed, so mp3: streams cannot play on the local RTMP edge")
        return False
    command = [ffmpeg, "-v", "error", "-y", "-i", str(source), "-map", "0:a:0"]
    command += ["-c:a", "copy", "-f", "flv", str(target)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return False
    if done.returncode != 0:
        log.info("ffmpeg could not put %s into FLV: %s", source.name, done.stderr.decode()[-300:])
    return done.returncode == 0


class Mp3Origin(LoopbackService):
    """The HTTP play location that turns `mp3:` stream requests into FLV."""

    thread_name = "mediapub-mp3-origin"

    def __init__(self, s3_endpoint: str) -> None:
        super().__init__()
        self.s3_endpoint = s3_endpoint.rstrip("/")

    def start(self) -> Mp3Origin:
        super().start()
        return self

    def handler(self) -> type[BaseHTTPRequestHandler]:
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                origin.answer(self)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("mp3 origin: " + format, *args)

        return Handler

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        path = urllib.parse.urlsplit(request.path).path
        # Under IDENTITY_PATH: read as the edge's origin access identity (private streaming;
        # the RTMP edge has checked the signature before it asks here).
        as_identity = path.startswith(IDENTITY_PATH + "/")
        path = path.removeprefix(IDENTITY_PATH) if as_identity else path
        bucket, _, name = path.lstrip("/").partition("/")
        key = mp3_key(urllib.parse.unquote(name))
        if not bucket or key is None:
            request.send_error(404)
            return
        source = f"{self.s3_endpoint}/{bucket}/{urllib.parse.quote(key)}"
        with tempfile.TemporaryDirectory(prefix="mediapub-mp3-") as temp:
            mp3, flv = Path(temp) / "in.mp3", Path(temp) / "out.flv"
            try:
                headers = {"Authorization": IDENTITY_AUTHORIZATION} if as_identity else {}
                fetch = urllib.request.Request(source, headers=headers)
                with urllib.request.urlopen(fetch, timeout=30) as reply:
                    mp3.write_bytes(reply.read())
            except urllib.error.HTTPError as exc:
                request.send_error(exc.code)
                return
            if not remux_to_flv(mp3, flv):
                request.send_error(404)
                return
            body = flv.read_bytes()
        request.send_response(200)
        request.send_header("Content-Type", "video/x-flv")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
