"""The local CloudFront edges (nginx) in front of a real moto S3 server.

Tests that need nginx, its RTMP module, ffmpeg or ffprobe skip when one is missing, except when
the CI environment variable is set: then they fail, so CI cannot pass without the real edges.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from pipeline.errors import LocalStackError
from pipeline.local.cloudfront import EdgeOrigin
from pipeline.local.edges import NginxEdges, find_nginx, find_rtmp_module
from pipeline.local.ports import free_port, port_is_free, wait_for_port

from .conftest import unavailable

BUCKET = "edge-media"
OTHER_BUCKET = "edge-other"
FFPROBE_TIMEOUT = 20


def _require(what: str, present: bool) -> None:
    if present:
        return
    unavailable(f"{what} is not installed (apt-get install nginx libnginx-mod-rtmp ffmpeg)")


def _require_nginx() -> None:
    _require("nginx", find_nginx() is not None)


def _require_rtmp() -> None:
    _require_nginx()
    _require("nginx's RTMP module (libnginx-mod-rtmp)", find_rtmp_module() is not None)
    _require("ffprobe", shutil.which("ffprobe") is not None)


# -- fixtures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Media:
    mp4: bytes
    flv: bytes
    mp3: bytes


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    _require("ffmpeg", shutil.which("ffmpeg") is not None)
    out = tmp_path_factory.mktemp("media")
    sources = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=15"]
    sources += ["-f", "lavfi", "-i", "sine=frequency=440"]
    mp3 = str(out / "clip.mp3")
    video = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    commands = [
        [*sources, "-t", "2", *video, "-movflags", "+faststart", str(out / "clip.mp4")],
        [*sources, "-t", "2", *video, "-f", "flv", str(out / "clip.flv")],
        ["-f", "lavfi", "-i", "sine=frequency=440", "-t", "2", "-c:a", "libmp3lame", mp3],
    ]
    for command in commands:
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", *command],
            check=True,
            timeout=120,
        )
    return Media(
        mp4=(out / "clip.mp4").read_bytes(),
        flv=(out / "clip.flv").read_bytes(),
        mp3=(out / "clip.mp3").read_bytes(),
    )


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def objects(s3_endpoint: str, media: Media) -> dict[str, bytes]:
    """Public objects (key -> body) in BUCKET, plus `private.mp4` and objects in OTHER_BUCKET."""
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
        ),
    )
    public = {
        "clip.mp4": (media.mp4, "video/mp4"),
        "media/clip.mp4": (media.mp4, "video/mp4"),
        "media/a clip.mp4": (media.mp4, "video/mp4"),
        "media/vidéo ü.mp4": (media.mp4, "video/mp4"),
        "clip.flv": (media.flv, "video/x-flv"),
        "media/clip.flv": (media.flv, "video/x-flv"),
        "clip.mp3": (media.mp3, "audio/mpeg"),
        "index.html": (b"<h1>local edge</h1>", "text/html"),
    }
    s3.create_bucket(Bucket=BUCKET)
    s3.create_bucket(Bucket=OTHER_BUCKET)
    for key, (body, content_type) in public.items():
        s3.put_object(
            Bucket=BUCKET, Key=key, Body=body, ContentType=content_type, ACL="public-read"
        )
    s3.put_object(Bucket=BUCKET, Key="private.mp4", Body=b"not for you", ContentType="video/mp4")
    s3.put_object(
        Bucket=OTHER_BUCKET,
        Key="prefix/media/special/note.txt",
        Body=b"from the other origin",
        ContentType="text/plain",
        ACL="public-read",
    )
    return {key: body for key, (body, _) in public.items()}


@pytest.fixture
def edges(tmp_path: Path, s3_endpoint: str) -> Iterator[NginxEdges]:
    _require_nginx()
    with NginxEdges(tmp_path / "edges", s3_endpoint) as running:
        yield running


WEB_ORIGINS = (
    EdgeOrigin(path_pattern="*", bucket=BUCKET, origin_path=""),
    EdgeOrigin(path_pattern="media/*", bucket=BUCKET, origin_path=""),
    EdgeOrigin(path_pattern="media/special/*", bucket=OTHER_BUCKET, origin_path="/prefix"),
)
RTMP_ORIGINS = (EdgeOrigin(path_pattern="*", bucket=BUCKET, origin_path=""),)


# -- helpers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def _request(
    domain: str, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> Reply:
    host, port = domain.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        # skip_host-free request(): the path goes out exactly as given (raw percent-encoding).
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        connection.close()


def _ffprobe(url: str) -> list[str]:
    """Codec types ffprobe reports for `url`; an AssertionError (with stderr) if none."""
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "json",
            "-rw_timeout",
            "5000000",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=FFPROBE_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"ffprobe {url} failed: {result.stderr.strip()}"
    streams = json.loads(result.stdout).get("streams", [])
    return [stream["codec_type"] for stream in streams]


def _refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def _nginx_pids_for(config: Path, master: int) -> list[int]:
    """Live processes of nginx `master`'s process group, or naming `config` on the command line.

    Workers are titled just "nginx: worker process"; they share the master's process group
    (the edges start nginx in a session of its own), also once orphaned.
    """
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if state == "Z":
            continue
        if int(pgrp) == master or str(config).encode() in cmdline:
            pids.append(int(entry.name))
    return pids


# -- ports --------------------------------------------------------------------------------------


def test_free_port_is_bindable_and_wait_for_port() -> None:
    port = free_port()
    assert 0 < port < 65536
    assert port_is_free(port)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert not port_is_free(port)
        wait_for_port(port, timeout=2)


def test_wait_for_port_raises_local_stack_error() -> None:
    port = free_port()
    with pytest.raises(LocalStackError, match=f"127.0.0.1:{port}"):
        wait_for_port(port, timeout=0.2)


# -- discovery and missing tools ----------------------------------------------------------------


def test_find_nginx_and_rtmp_module() -> None:
    _require_nginx()
    nginx = find_nginx()
    assert nginx is not None and os.access(nginx, os.X_OK)
    _require("nginx's RTMP module (libnginx-mod-rtmp)", find_rtmp_module() is not None)
    module = find_rtmp_module()
    assert module is not None and module.name == "ngx_rtmp_module.so" and module.is_file()


def test_without_nginx_assign_returns_a_port_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pipeline.local.edges")
    edges = NginxEdges(tmp_path, "http://127.0.0.1:9", nginx=str(tmp_path / "no-nginx"))
    assert not edges.http_available and not edges.rtmp_available
    with edges:
        assert not edges.running
        web = edges.assign("web", "EWEB", WEB_ORIGINS, "index.html")
        rtmp = edges.assign("rtmp", "SRTMP", RTMP_ORIGINS, "")
        assert edges.assign("web", "EWEB", WEB_ORIGINS, "") == web
    assert web.startswith("127.0.0.1:") and rtmp.startswith("127.0.0.1:") and web != rtmp
    warnings = [
        r for r in caplog.records if r.levelno == logging.INFO and "will not play" in r.getMessage()
    ]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "RTMP and HTTP edge URLs" in message
    assert "apt-get install nginx libnginx-mod-rtmp" in message


def test_without_rtmp_module_only_rtmp_is_unserved(
    tmp_path: Path, s3_endpoint: str, objects: dict[str, bytes], caplog: pytest.LogCaptureFixture
) -> None:
    _require_nginx()
    caplog.set_level(logging.INFO, logger="pipeline.local.edges")
    edges = NginxEdges(tmp_path, s3_endpoint, rtmp_module=tmp_path / "missing.so")
    assert edges.http_available and not edges.rtmp_available
    with edges:
        rtmp = edges.assign("rtmp", "SRTMP", RTMP_ORIGINS, "")
        edges.assign("rtmp", "SRTMP2", RTMP_ORIGINS, "")
        web = edges.assign("web", "EWEB", WEB_ORIGINS, "")
        assert _refuses(int(rtmp.split(":")[1]))
        assert _request(web, "/clip.mp4").body == objects["clip.mp4"]
    warnings = [
        r for r in caplog.records if r.levelno == logging.INFO and "will not play" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert "RTMP edge URLs" in warnings[0].getMessage()
    assert "apt-get install nginx libnginx-mod-rtmp" in warnings[0].getMessage()
    assert "load_module" not in (tmp_path / "nginx.conf").read_text()


# -- RTMP edge ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stream",
    [
        "mp4:clip.mp4",
        "mp4:media/clip.mp4",
        "mp4:media/a%20clip.mp4",
        "clip",  # FLV: the bare name, nginx-rtmp appends .flv
        "media/clip",
    ],
)
def test_rtmp_edge_plays(edges: NginxEdges, objects: dict[str, bytes], stream: str) -> None:
    _require_rtmp()
    domain = edges.assign("rtmp", "SRTMP", RTMP_ORIGINS, "")
    codecs = _ffprobe(f"rtmp://{domain}/cfx/st/{stream}")
    assert "video" in codecs and "audio" in codecs
    # nginx-rtmp logs the play inside the workdir, not to /var/log/nginx.
    rtmp_log = edges.config_path.parent / "rtmp_access.log"
    assert f'PLAY "cfx/st" "{stream}"' in rtmp_log.read_text()


@pytest.mark.xfail(
    strict=True, reason="nginx-rtmp plays only FLV and MP4; it fetches mp3:clip as mp3:clip.flv"
)
def test_rtmp_edge_plays_mp3(edges: NginxEdges, objects: dict[str, bytes]) -> None:
    _require_rtmp()
    domain = edges.assign("rtmp", "SRTMP", RTMP_ORIGINS, "")
    assert "audio" in _ffprobe(f"rtmp://{domain}/cfx/st/mp3:clip")


def test_rtmp_edge_does_not_play_private_objects(
    edges: NginxEdges, objects: dict[str, bytes]
) -> None:
    _require_rtmp()
    domain = edges.assign("rtmp", "SRTMP", RTMP_ORIGINS, "")
    with pytest.raises(AssertionError, match="ffprobe"):
        _ffprobe(f"rtmp://{domain}/cfx/st/mp4:private.mp4")


# -- web edge -----------------------------------------------------------------------------------


@pytest.fixture
def web(edges: NginxEdges, objects: dict[str, bytes]) -> str:
    return edges.assign("web", "EWEB", WEB_ORIGINS, "index.html")


@pytest.mark.parametrize(
    ("path", "key", "content_type"),
    [
        ("/clip.mp4", "clip.mp4", "video/mp4"),
        ("/media/clip.mp4", "media/clip.mp4", "video/mp4"),
        ("/media/a%20clip.mp4", "media/a clip.mp4", "video/mp4"),
        ("/media/vid%C3%A9o%20%C3%BC.mp4", "media/vidéo ü.mp4", "video/mp4"),
        ("/clip.flv", "clip.flv", "video/x-flv"),
        ("/clip.mp3", "clip.mp3", "audio/mpeg"),
        ("/", "index.html", "text/html"),
        ("/clip.mp4?response-content-type=text/plain", "clip.mp4", "video/mp4"),
    ],
)
def test_web_edge_serves_exact_bytes(
    web: str, objects: dict[str, bytes], path: str, key: str, content_type: str
) -> None:
    reply = _request(web, path)
    assert reply.status == 200
    assert reply.body == objects[key]
    assert reply.headers["content-type"] == content_type
    assert reply.headers["content-length"] == str(len(objects[key]))
    assert reply.headers["x-edge"] == "mediapub-local"


def test_web_edge_range_and_head(web: str, objects: dict[str, bytes]) -> None:
    body = objects["media/a clip.mp4"]
    ranged = _request(web, "/media/a%20clip.mp4", headers={"Range": "bytes=100-299"})
    assert ranged.status == 206
    assert ranged.body == body[100:300]
    assert ranged.headers["content-range"] == f"bytes 100-299/{len(body)}"
    assert ranged.headers["content-length"] == "200"

    head = _request(web, "/media/a%20clip.mp4", method="HEAD")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["content-length"] == str(len(body))
    assert head.headers["accept-ranges"] == "bytes"
    assert head.headers["content-type"] == "video/mp4"


def test_web_edge_passes_s3_errors_and_limits_methods(web: str) -> None:
    assert _request(web, "/private.mp4").status == 403
    assert _request(web, "/media/missing.mp4").status == 404
    assert _request(web, "/clip.mp4", method="DELETE").status == 403
    assert _request(web, "/clip.mp4", method="PUT", headers={"Content-Length": "0"}).status == 403
    # A dot segment must not climb out of the bucket on a path-style S3 URL.
    assert _request(web, "/media/%2e%2e/%2e%2e/edge-other/prefix/x").status == 400


def test_web_edge_longest_path_pattern_and_origin_path(web: str) -> None:
    reply = _request(web, "/media/special/note.txt")
    assert reply.status == 200
    assert reply.body == b"from the other origin"
    assert reply.headers["content-type"] == "text/plain"


def test_web_edge_without_default_root_object(edges: NginxEdges, objects: dict[str, bytes]) -> None:
    domain = edges.assign("web", "ENOROOT", WEB_ORIGINS, "")
    assert _request(domain, "/").body != objects["index.html"]
    assert _request(domain, "/index.html").body == objects["index.html"]


# -- assignment lifecycle -----------------------------------------------------------------------


def test_assign_same_id_keeps_domain_and_applies_changes(
    edges: NginxEdges, objects: dict[str, bytes]
) -> None:
    first = edges.assign("web", "EWEB", WEB_ORIGINS, "index.html")
    assert edges.assign("web", "EWEB", WEB_ORIGINS, "index.html") == first
    assert _request(first, "/").body == objects["index.html"]
    assert edges.assign("web", "EWEB", WEB_ORIGINS, "clip.mp4") == first
    assert _request(first, "/").body == objects["clip.mp4"]
    other = edges.assign("web", "EOTHER", WEB_ORIGINS, "")
    assert other != first


def test_release_stops_serving_only_that_port(edges: NginxEdges, objects: dict[str, bytes]) -> None:
    gone = edges.assign("web", "EGONE", WEB_ORIGINS, "")
    kept = edges.assign("web", "EKEPT", WEB_ORIGINS, "")
    assert _request(gone, "/clip.mp4").status == 200
    edges.release("EGONE")
    edges.release("EUNKNOWN")
    assert _refuses(int(gone.split(":")[1]))
    assert _request(kept, "/clip.mp4").status == 200


def test_release_rtmp_edge(edges: NginxEdges, objects: dict[str, bytes]) -> None:
    _require_rtmp()
    domain = edges.assign("rtmp", "SRTMP", RTMP_ORIGINS, "")
    assert "video" in _ffprobe(f"rtmp://{domain}/cfx/st/mp4:clip.mp4")
    edges.release("SRTMP")
    assert _refuses(int(domain.split(":")[1]))


def test_rtmp_edges_survive_assign_release_cycles(
    edges: NginxEdges, objects: dict[str, bytes]
) -> None:
    """Removing the last RTMP server used to crash nginx-rtmp's new workers on reload."""
    _require_rtmp()
    for cycle in range(3):
        first = edges.assign("rtmp", "SONE", RTMP_ORIGINS, "")
        second = edges.assign("rtmp", "STWO", RTMP_ORIGINS, "")
        assert "video" in _ffprobe(f"rtmp://{first}/cfx/st/mp4:clip.mp4"), cycle
        assert "video" in _ffprobe(f"rtmp://{second}/cfx/st/clip"), cycle
        edges.release("SONE")
        edges.release("STWO")
    web = edges.assign("web", "EWEB", WEB_ORIGINS, "")
    assert _request(web, "/clip.mp4").status == 200
    error_log = (edges.config_path.parent / "error.log").read_text()
    assert "exited on signal" not in error_log


def test_concurrent_assign_from_threads(edges: NginxEdges, objects: dict[str, bytes]) -> None:
    domains: dict[str, str] = {}
    errors: list[BaseException] = []

    def assign(dist_id: str) -> None:
        try:
            domains[dist_id] = edges.assign("web", dist_id, WEB_ORIGINS, "")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=assign, args=(f"E{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len(set(domains.values())) == 6
    for domain in domains.values():
        assert _request(domain, "/clip.mp4").body == objects["clip.mp4"]


def test_stop_leaves_no_nginx_process(tmp_path: Path, s3_endpoint: str) -> None:
    _require_nginx()
    edges = NginxEdges(tmp_path, s3_endpoint)
    edges.start()
    domain = edges.assign("web", "EWEB", WEB_ORIGINS, "")
    pid = edges.pid
    assert pid is not None and edges.running
    assert len(_nginx_pids_for(edges.config_path, pid)) == 2  # master and worker
    edges.stop()
    assert not edges.running and edges.pid is None
    assert not Path(f"/proc/{pid}").exists()
    assert _nginx_pids_for(edges.config_path, pid) == []
    assert _refuses(int(domain.split(":")[1]))
    edges.stop()  # idempotent


def test_stop_after_master_died_kills_orphaned_workers(tmp_path: Path, s3_endpoint: str) -> None:
    _require_nginx()
    edges = NginxEdges(tmp_path, s3_endpoint)
    edges.start()
    domain = edges.assign("web", "EWEB", WEB_ORIGINS, "")
    pid = edges.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # the master only: its worker keeps serving
    with pytest.raises(LocalStackError, match="exited"):
        edges.assign("web", "EOTHER", WEB_ORIGINS, "")
    edges.stop()
    assert _nginx_pids_for(edges.config_path, pid) == []
    assert _refuses(int(domain.split(":")[1]))


def test_assign_before_start_is_served_after_start(
    tmp_path: Path, s3_endpoint: str, objects: dict[str, bytes]
) -> None:
    _require_nginx()
    edges = NginxEdges(tmp_path, s3_endpoint)
    domain = edges.assign("web", "EEARLY", WEB_ORIGINS, "")
    with edges:
        assert _request(domain, "/clip.mp4").body == objects["clip.mp4"]


def test_config_is_self_contained(edges: NginxEdges, objects: dict[str, bytes]) -> None:
    edges.assign("web", "EWEB", WEB_ORIGINS, "index.html")
    if edges.rtmp_available:
        edges.assign("rtmp", "SRTMP", RTMP_ORIGINS, "")
    config = edges.config_path.read_text()
    workdir = str(edges.config_path.parent)
    for directive in (
        "pid",
        "lock_file",
        "client_body_temp_path",
        "proxy_temp_path",
        "fastcgi_temp_path",
        "uwsgi_temp_path",
        "scgi_temp_path",
    ):
        assert f'{directive} "{workdir}/' in config, directive
    assert "/var/" not in config
    if edges.rtmp_available:
        assert "application cfx/st {" in config
        assert f'play_temp_path "{workdir}/rtmp_tmp"' in config
        assert f'access_log "{workdir}/rtmp_access.log"' in config
