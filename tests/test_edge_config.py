"""`mediapub edge-config`: the nginx.conf of a self-hosted RTMP edge, checked by nginx and played.

Tests that need nginx, its RTMP module (at Debian's path, which the printed config loads),
ffmpeg or ffprobe skip when one is missing, and fail instead when the CI variable is set.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.context import make_clients
from pipeline.edgeconfig import (
    DEBIAN_RTMP_MODULE,
    RtmpServer,
    default_origin,
    render_config,
    render_rtmp_block,
)
from pipeline.errors import ConfigError, ExitStatus, InputError, LocalStackError
from pipeline.local.edges import NginxEdges, find_nginx
from pipeline.local.ports import free_port, wait_for_port
from pipeline.local.stack import LocalStack

from .conftest import SAMPLES, mediapub_command, need, unavailable, unique

FFPROBE = ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "json"]
FFPROBE_TIMEOUT = 30
KEYS = {
    "media/clip.mp4": SAMPLES / "clip.mp4",
    "media/videos/bars and tone.flv": SAMPLES / "videos" / "bars and tone.flv",
    "media/audio/tone.mp3": SAMPLES / "audio" / "tone.mp3",
}


def _nginx() -> str:
    """nginx's path, once nginx and the RTMP module at Debian's path are both installed."""
    nginx = find_nginx()
    missing = [] if nginx else ["nginx"]
    if not DEBIAN_RTMP_MODULE.is_file():
        missing.append(f"libnginx-mod-rtmp ({DEBIAN_RTMP_MODULE})")
    if missing or nginx is None:
        unavailable(f"needs {', '.join(missing)} (bash scripts/install-system-deps)")
    return nginx


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MEDIAPUB_"))}


def edge_config(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed `mediapub edge-config ARGS`."""
    return subprocess.run(
        [*mediapub_command(), "edge-config", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_config(args: list[str], folder: Path) -> Path:
    """`mediapub edge-config ARGS` written to `folder`/nginx.conf."""
    done = edge_config(args, folder)
    assert done.returncode == 0, done.stderr
    path = folder / "nginx.conf"
    path.write_text(done.stdout, encoding="utf-8")
    return path


def nginx_test(nginx: str, config: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [nginx, "-t", "-c", str(config), "-p", f"{prefix}/"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def ffprobe(url: str) -> list[str]:
    """Sorted codec types ffprobe finds at `url`; an AssertionError with its stderr if none."""
    done = subprocess.run(
        [*FFPROBE, "-rw_timeout", "10000000", url],
        capture_output=True,
        text=True,
        timeout=FFPROBE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"ffprobe {url}: {done.stderr.strip()}"
    return sorted(stream["codec_type"] for stream in json.loads(done.stdout)["streams"])


def worker_user() -> str:
    """This process's user: nginx started by root runs its workers as it, so they can write
    the test's private temp folder; for other users nginx ignores the directive."""
    return pwd.getpwuid(os.geteuid()).pw_name


# -- the printed configuration ------------------------------------------------------------------


def test_default_origin_is_the_buckets_s3_url(tmp_path: Path) -> None:
    aws = load_settings(
        cwd=tmp_path, env={}, overrides={"streaming.bucket": "my-media", "region": "eu-west-1"}
    )
    assert default_origin(aws) == "https://my-media.s3.eu-west-1.amazonaws.com/"
    text = render_config(aws)
    assert "# Origin: https://my-media.s3.eu-west-1.amazonaws.com/\n" in text
    # nginx-rtmp reads a play location that is not http:// as a local directory.
    assert 'play "http://my-media.s3.eu-west-1.amazonaws.com";' in text

    endpoint = load_settings(
        cwd=tmp_path,
        env={},
        overrides={
            "target": "aws",
            "endpoint_url": "http://127.0.0.1:9000",
            "streaming.bucket": "my-media",
        },
    )
    assert default_origin(endpoint) == "http://127.0.0.1:9000/my-media"
    assert 'play "http://127.0.0.1:9000/my-media";' in render_config(endpoint)


def test_config_is_a_complete_rtmp_only_nginx_conf(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, env={})
    text = render_config(settings, origin="http://127.0.0.1:9000/b/", port=19350)
    directives = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert directives[0] == f'load_module "{DEBIAN_RTMP_MODULE}";'
    assert "events {" in directives
    assert "http {" not in text
    assert "daemon" not in text  # the user's choice (-g "daemon off;" for a foreground run)
    rtmp = text[text.index("\nrtmp {") + 1 :]
    assert rtmp == "\n".join(
        [
            *render_rtmp_block(
                [RtmpServer(19350, ("http://127.0.0.1:9000/b",), "/tmp", comment="RTMP edge")],
                access_log="rtmp_access.log",
            ),
            "",
        ]
    )
    assert "        application cfx/st {\n            live off;\n" in rtmp
    assert "listen 19350;" in rtmp and "rtmp://HOST:19350/cfx/st/mp4:<key>" in text
    # Paths relative to nginx's prefix, except play_temp_path, which nginx-rtmp takes as is.
    assert 'pid "nginx.pid";' in text and 'error_log "error.log";' in text
    assert 'play_temp_path "/tmp";' in text
    # MP3 needs a remuxing origin, and the config says so.
    assert "mp3: streams do not play from this edge" in text
    assert "--mp3-origin URL" in text and "published as FLV or MP4" in text


def test_prefix_mp3_origin_and_user(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, env={})
    text = render_config(
        settings,
        origin="http://origin.example:8080/bucket",
        mp3_origin="http://127.0.0.1:7000/bucket/",
        prefix=tmp_path / "edge",
        user="www-data",
    )
    folder = (tmp_path / "edge").resolve()
    assert 'play "http://origin.example:8080/bucket" "http://127.0.0.1:7000/bucket";' in text
    assert f'pid "{folder}/nginx.pid";' in text
    assert f'error_log "{folder}/error.log";' in text
    assert f'access_log "{folder}/rtmp_access.log";' in text
    assert f'play_temp_path "{folder}";' in text
    assert "\nuser www-data;\n" in text
    assert "second play location, http://127.0.0.1:7000/bucket" in text
    assert "do not play from this edge" not in text
    assert f"nginx -t -c FILE -p {folder}/" in text


def test_https_origin_is_fetched_over_http_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pipeline.edgeconfig")
    settings = load_settings(cwd=tmp_path, env={})
    text = render_config(settings, origin="HTTPS://media.example.com/")
    assert 'play "http://media.example.com";' in text
    assert "# fetched as http://media.example.com\n" in text
    assert "plain HTTP only" in caplog.text
    caplog.clear()
    render_config(settings)  # the default S3 URL: said in the config, not warned about
    assert caplog.text == ""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 0}, "--port 0"),
        ({"port": 65536}, "--port 65536"),
        ({"origin": "ftp://example.com/b"}, "http:// or https://"),
        ({"origin": "/just/a/path"}, "http:// or https://"),
        ({"origin": "http://user:pw@example.com/b"}, "user name or password"),
        ({"origin": "http://exa mple.com/b"}, "host name"),
        ({"origin": "http://example.com:99999/b"}, "not a URL"),
        ({"origin": "http://example.com/b?x=1"}, "query string"),
        ({"origin": 'http://example.com/a"b'}, "percent-encode"),
        ({"origin": "http://example.com/a;b"}, "percent-encode"),
        ({"mp3_origin": "rtmp://example.com/b"}, "--mp3-origin"),
        ({"user": "www data"}, "--user"),
        ({"prefix": Path("/tmp/a\nb")}, "--prefix"),
    ],
)
def test_bad_values_are_input_errors(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    settings = load_settings(cwd=tmp_path, env={})
    with pytest.raises(InputError, match=re.escape(message)):
        render_config(settings, **kwargs)  # type: ignore[arg-type]


def test_bad_region_is_a_config_error(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, env={}, overrides={"region": "eu west"})
    with pytest.raises(ConfigError, match=r"region, endpoint_url and streaming\.bucket"):
        render_config(settings)


def test_local_rtmp_edges_use_the_same_template(tmp_path: Path) -> None:
    """The local stack's RTMP servers come from `render_rtmp_block` too."""
    module = tmp_path / "ngx_rtmp_module.so"
    module.touch()
    edges = NginxEdges(
        tmp_path / "edges",
        "http://127.0.0.1:9",
        nginx="true",
        rtmp_module=module,
        fallback_play=["http://127.0.0.1:8/"],
    )
    from pipeline.local.cloudfront import EdgeOrigin

    domain = edges.assign("rtmp", "SLOCAL", (EdgeOrigin("*", "bucket", ""),), "")
    port = int(domain.rpartition(":")[2])
    workdir = (tmp_path / "edges").resolve()
    expected = render_rtmp_block(
        [
            RtmpServer(
                port,
                ("http://127.0.0.1:9/bucket", "http://127.0.0.1:8/bucket"),
                f"{workdir}/rtmp_tmp",
                address="127.0.0.1",
                comment="streaming distribution SLOCAL",
            )
        ],
        access_log=f"{workdir}/rtmp_access.log",
    )
    assert "\n".join(expected) in edges._render()


# -- the command, checked by nginx and played ---------------------------------------------------


def test_command_prints_what_nginx_accepts(tmp_path: Path) -> None:
    nginx = _nginx()
    for prefix_option in ([], ["--prefix", str(tmp_path)]):
        args = ["--origin", "http://127.0.0.1:9/bucket", "--port", str(free_port())]
        args += ["--mp3-origin", "http://127.0.0.1:8/bucket", *prefix_option]
        config = write_config(args, tmp_path)
        done = nginx_test(nginx, config, tmp_path)
        assert done.returncode == 0, done.stderr
        assert "test is successful" in done.stderr


def test_command_errors_are_one_line_usage_errors(tmp_path: Path) -> None:
    done = edge_config(["--origin", "ftp://example.com/bucket"], tmp_path)
    assert done.returncode == ExitStatus.USAGE
    assert done.stdout == ""
    assert done.stderr.startswith("Error: --origin ftp://example.com/bucket: expected")
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.fixture
def bucket(stack: LocalStack) -> str:
    """A bucket on the session's local stack with the sample media, publicly readable, and
    one private object."""
    s3, _ = make_clients("us-east-1", stack.endpoint_url, local=True)
    name = unique("edge")
    s3.create_bucket(Bucket=name)
    for key, path in KEYS.items():
        s3.put_object(Bucket=name, Key=key, Body=path.read_bytes(), ACL="public-read")
    s3.put_object(Bucket=name, Key="media/private.mp4", Body=KEYS["media/clip.mp4"].read_bytes())
    return name


@pytest.fixture
def run_nginx() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Started nginx processes (in the foreground); stopped with SIGQUIT afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGQUIT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


@pytest.mark.parametrize("origin_from", ["--origin", "--config"])
def test_printed_config_plays_the_bucket(
    stack: LocalStack,
    bucket: str,
    tmp_path: Path,
    run_nginx: list[subprocess.Popen[bytes]],
    origin_from: str,
) -> None:
    nginx = _nginx()
    need("ffprobe", "ffmpeg")
    assert stack.mp3 is not None
    port = free_port()
    prefix = tmp_path / "edge"
    prefix.mkdir()
    if origin_from == "--origin":
        args = ["--origin", f"{stack.endpoint_url}/{bucket}"]
    else:
        settings = tmp_path / "mediapub.toml"
        settings.write_text(
            f'target = "aws"\nendpoint_url = "{stack.endpoint_url}"\n'
            f'[streaming]\nbucket = "{bucket}"\n',
            encoding="utf-8",
        )
        args = ["--config", str(settings)]
    args += ["--port", str(port), "--prefix", str(prefix), "--user", worker_user()]
    args += ["--mp3-origin", f"{stack.mp3.url}/{bucket}"]
    config = write_config(args, tmp_path)
    checked = nginx_test(nginx, config, prefix)
    assert checked.returncode == 0, checked.stderr

    process = subprocess.Popen(
        [nginx, "-c", str(config), "-p", f"{prefix}/", "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    run_nginx.append(process)
    try:
        wait_for_port(port, timeout=10)
    except LocalStackError:
        log = prefix / "error.log"
        pytest.fail(f"nginx (exit {process.poll()}): {log.read_text() if log.exists() else ''}")

    streamer = f"rtmp://127.0.0.1:{port}/cfx/st"
    assert ffprobe(f"{streamer}/mp4:media/clip.mp4") == ["audio", "video"]
    assert ffprobe(f"{streamer}/media/videos/bars%20and%20tone") == ["audio", "video"]
    # Through the remuxing origin, as FLV (ffmpeg adds a data stream for its metadata).
    assert "audio" in ffprobe(f"{streamer}/mp3:media/audio/tone")
    with pytest.raises(AssertionError, match="ffprobe"):
        ffprobe(f"{streamer}/mp4:media/private.mp4")

    # Everything nginx wrote is inside the prefix; nothing went to /var/log/nginx.
    assert (prefix / "nginx.pid").read_text().strip() == str(process.pid)
    assert 'PLAY "cfx/st" "mp4:media/clip.mp4"' in (prefix / "rtmp_access.log").read_text()
    assert "[emerg]" not in (prefix / "error.log").read_text()
