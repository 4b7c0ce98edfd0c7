"""End to end: the installed `mediapub` command run as a user would, then what a viewer gets:
every RTMP URL probed with ffprobe through the local RTMP edge, every HTTP URL fetched anonymously
through the local download edge."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import ExitStatus
from pipeline.local.stack import LocalStack

from .conftest import REPO, SAMPLES, mediapub_command, need, need_edges

UNICODE_NAME = "vidéo ü.mp4"
COMMANDS = ("publish", "watch", "retry", "local", "edge-config", "status", "render", "snippet")


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*mediapub_command(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def fetch(url: str) -> tuple[int, bytes, str]:
    """Status, body and content type; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read(), reply.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, b"", ""
    except (urllib.error.URLError, OSError):
        return 0, b"", ""


def ffprobe_streams(url: str) -> list[str]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "json", url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, f"ffprobe {url}: {done.stderr.strip()}"
    return sorted(s["codec_type"] for s in json.loads(done.stdout)["streams"])


@pytest.fixture
def media(tmp_path: Path) -> Path:
    """The sample clips plus a nested copy with a unicode name."""
    folder = tmp_path / "media in"
    shutil.copytree(SAMPLES, folder, ignore=shutil.ignore_patterns("*.md", "*.sh"))
    (folder / "videos" / "2026").mkdir()
    shutil.copy(SAMPLES / "clip.mp4", folder / "videos" / "2026" / UNICODE_NAME)
    return folder


def check_manifest_plays(manifest: dict[str, Any], media: Path, stack_has_rtmp: bool) -> None:
    """What a viewer gets for each rendered URL."""
    assert len(manifest["items"]) == 4
    for item in manifest["items"]:
        status, body, content_type = fetch(item["http_url"])
        assert status == 200, item["http_url"]
        assert body == (media / item["source"]).read_bytes()
        assert content_type == item["content_type"]
        assert item["rtmp_url"].startswith(manifest["streaming_distribution"]["streamer"] + "/")
        if not stack_has_rtmp:
            continue
        streams = ffprobe_streams(item["rtmp_url"])
        if item["content_type"] == "audio/mpeg":
            assert item["rtmp_url"].endswith("/cfx/st/mp3:" + item["key"].removesuffix(".mp3"))
            assert "audio" in streams and "video" not in streams
        else:
            assert streams == ["audio", "video"], item["rtmp_url"]
    for name in ("crossdomain_url", "player_url", "index_url"):
        assert fetch(manifest[name])[0] == 200, manifest[name]
    crossdomain = fetch(manifest["crossdomain_url"])[1]
    assert b"<allow-access-from" in crossdomain


def test_publish_command_plays_everywhere(
    stack: LocalStack, aws_env: dict[str, str], media: Path, tmp_path: Path, buckets: Any
) -> None:
    need("ffprobe")
    need_edges(stack)
    env = {
        **aws_env,
        "MEDIAPUB_STREAMING_BUCKET": buckets["streaming"],
        "MEDIAPUB_PLAYER_BUCKET": buckets["player"],
    }
    first = run(["publish", str(media), "--json"], tmp_path, env)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert {i["action"] for i in result["items"]} == {"uploaded"}
    manifest = json.loads((tmp_path / "site" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == result["manifest"]
    assert manifest["target"] == "aws" and manifest["endpoint_url"] == stack.endpoint_url
    check_manifest_plays(manifest, media, stack.rtmp_available)
    unicode_item = next(i for i in manifest["items"] if i["source"].endswith(UNICODE_NAME))
    assert "vid%C3%A9o%20%C3%BC.mp4" in unicode_item["http_url"]

    second = run(["publish", str(media), "--json"], tmp_path, env)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert {i["action"] for i in again["items"]} == {"unchanged"}
    assert again["actions"] == []
    assert (
        again["manifest"]["streaming_distribution"]["id"]
        == manifest["streaming_distribution"]["id"]
    )

    status = run(["status", "--json"], tmp_path, env)
    assert status.returncode == 0
    states = {i["key"]: i["state"] for i in json.loads(status.stdout)["items"]}
    assert set(states.values()) == {"published"} and len(states) == 4

    snippet = run(["snippet", "clip.mp4", "--format", "jwplayer"], tmp_path, env)
    assert snippet.returncode == 0, snippet.stderr
    assert manifest["streaming_distribution"]["streamer"] in snippet.stdout

    shutil.rmtree(tmp_path / "site")
    rendered = run(["render"], tmp_path, env)
    assert rendered.returncode == 0 and "Rendered 4 items" in rendered.stdout
    assert json.loads((tmp_path / "site" / "manifest.json").read_text()) == manifest


def test_default_local_target_serves_until_interrupted(media: Path, tmp_path: Path) -> None:
    """No config at all: the embedded stack starts, publishes, serves, stops on Ctrl-C."""
    need("ffprobe", "nginx")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MEDIAPUB_"))}
    process = subprocess.Popen(
        [*mediapub_command(), "publish", str(media), "--serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.strip().startswith("index:"):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(120), "".join(lines)
        manifest = json.loads((tmp_path / "site" / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["target"] == "local"
        index = next(line.split("index:")[1].strip() for line in lines if "index:" in line)
        assert index == manifest["index_url"]
        check_manifest_plays(manifest, media, shutil.which("nginx") is not None)
        status, page, _ = fetch(manifest["index_url"])
        assert status == 200 and b"clip" in page
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(30)
    assert code == 0
    assert process.stderr is not None
    assert "Stopped serving." in process.stderr.read()
    with pytest.raises(OSError):
        urllib.request.urlopen(manifest["index_url"], timeout=2)


def test_partial_failure_exit_status(aws_env: dict[str, str], media: Path, tmp_path: Path) -> None:
    (media / "empty.mp4").write_bytes(b"")
    done = run(["publish", str(media)], tmp_path, aws_env)
    assert done.returncode == ExitStatus.PARTIAL
    assert "Error: 1 item(s) failed: empty.mp4" in done.stderr
    assert "is empty (0 bytes)" in done.stderr
    assert "uploaded  clip.mp4" in done.stdout
    assert (media / "empty.mp4").exists()


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    done = run(["publish", str(tmp_path / "nope.mp4")], tmp_path)
    assert done.returncode == ExitStatus.USAGE
    missing = tmp_path / "nope.mp4"
    assert (
        done.stderr == f"Error: {missing}: no such file or folder. Check the path, or create it.\n"
    )


def test_bad_config_is_one_line_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "mediapub.toml").write_text('[streaming]\nprice_class = "cheap"\n')
    (tmp_path / "a.mp4").write_bytes(b"x")
    done = run(["publish", "a.mp4"], tmp_path)
    assert done.returncode == ExitStatus.CONFIG
    assert done.stderr == (
        'Error: streaming.price_class (mediapub.toml): expected one of "PriceClass_100", '
        '"PriceClass_200", "PriceClass_All"; got "cheap".\n'
    )


def test_dry_run_prints_the_plan(aws_env: dict[str, str], media: Path, tmp_path: Path) -> None:
    done = run(["publish", str(media), "--dry-run", "--json"], tmp_path, aws_env)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["dry_run"] is True
    assert {i["action"] for i in plan["items"]} == {"would upload"}
    assert not (tmp_path / "site").exists()


def test_version_and_help_on_every_command(tmp_path: Path) -> None:
    version = run(["--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("mediapub ")
    as_module = subprocess.run(
        [sys.executable, "-m", "pipeline", "--version"], capture_output=True, text=True, check=False
    )
    assert as_module.stdout == version.stdout
    for command in COMMANDS:
        done = run([command, "--help"], tmp_path)
        assert done.returncode == 0, command
        assert "Usage: mediapub " + command in " ".join(done.stdout.split())


def test_every_command_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for command in COMMANDS:
        assert f"mediapub {command}" in readme, command


def test_local_command_prints_endpoint_and_config(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*mediapub_command(), "local"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        first = process.stdout.readline()
        assert first.startswith("Local stack (S3 + CloudFront) at http://127.0.0.1:")
        endpoint = first.rsplit(" ", 1)[1].strip()
        rest = [process.stdout.readline() for _ in range(6)]
        assert f'endpoint_url = "{endpoint}"\n' in rest
        status, _, _ = fetch(endpoint + "/")
        assert status == 200
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0


def test_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(["local", "--port", str(port)], tmp_path)
    assert done.returncode == ExitStatus.LOCAL_STACK
    assert f"Error: port {port} on 127.0.0.1 is already in use" in done.stderr


def test_wheel_carries_the_templates(tmp_path: Path) -> None:
    """Build the wheel, install it into a clean venv, render a page from it."""
    dist = tmp_path / "dist"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    wheel = next(dist.glob("mediapub-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "pipeline/templates/item.html" in names
    assert "pipeline/templates/player/player.js" in names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    script = (
        "from pipeline import site; env = site.environment(); "
        "print(site.bundled_templates()); "
        "print(env.get_template('embed.html').render(item={'kind': 'audio', 'http_url': 'u', "
        "'play_url': 'u', 'rtmp_url': 'r', 'title': '<t>'}, site_title='S', player_css='c', "
        "player_js='j', root=''))"
    )
    rendered = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert rendered.returncode == 0, rendered.stderr
    assert str(site_packages / "pipeline" / "templates") in rendered.stdout
    assert "<audio" in rendered.stdout and "&lt;t&gt;" in rendered.stdout


def test_without_ffmpeg_says_so_once_and_publishes(
    aws_env: dict[str, str], media: Path, tmp_path: Path, buckets: dict[str, str]
) -> None:
    from pipeline.renditions import FFMPEG_MISSING

    env = {
        **aws_env,
        "PATH": str(Path(sys.executable).parent),
        "MEDIAPUB_STREAMING_BUCKET": buckets["streaming"],
        "MEDIAPUB_PLAYER_BUCKET": buckets["player"],
    }
    done = run(["publish", str(media), "--json"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(FFMPEG_MISSING) == 1
    items = {i["source"]: i for i in json.loads(done.stdout)["manifest"]["items"]}
    flv = items["videos/bars and tone.flv"]
    assert flv["play_url"] == flv["http_url"] and flv["poster_url"] == ""
    assert fetch(flv["http_url"])[0] == 200
    page = (tmp_path / "site" / flv["page"]).read_text(encoding="utf-8")
    assert "FLV does not play in browsers" in page


def test_endpoint_without_rtmp_api_publishes_over_http_and_exits_partial(
    aws_env: dict[str, str], media: Path, tmp_path: Path
) -> None:
    """A plain moto server lacks the streaming-distribution API (a bare 404), as AWS refuses
    RTMP since 2021: everything else is published, the refusal is explained, exit status 5."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = threading.Event()
        for _ in range(200):
            if fetch(f"http://127.0.0.1:{port}/moto-api/")[0] != 0:
                break
            deadline.wait(0.05)
        env = {**aws_env, "MEDIAPUB_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
        done = run(["publish", str(media), "--json"], tmp_path, env)
        plain = run(["publish", str(media)], tmp_path, env)
    finally:
        server.terminate()
        server.wait(10)
    assert done.returncode == ExitStatus.PARTIAL, done.stderr
    result = json.loads(done.stdout)
    assert {i["action"] for i in result["items"]} == {"uploaded"}
    assert "retired RTMP (streaming) distributions on 2020-12-31" in result["rtmp_refusal"]
    assert 'delivery = ["http"]' in result["rtmp_refusal"]
    manifest = result["manifest"]
    assert manifest["streaming_distribution"] is None and manifest["download_distribution"]
    assert all(i["rtmp_url"] == "" and i["http_url"] for i in manifest["items"])
    assert plain.returncode == ExitStatus.PARTIAL
    assert plain.stderr.count("retired RTMP (streaming) distributions") == 1
    assert "Warning: The provider refused to create the streaming distribution (404" in plain.stderr
