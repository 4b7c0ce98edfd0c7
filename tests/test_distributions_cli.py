"""`mediapub distributions ...`, `mediapub publish --dry-run` and `mediapub sign`, run as the
installed command against the shared local stack (target "aws" with its endpoint)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from pipeline import distributions, publisher
from pipeline.errors import ExitStatus
from pipeline.infrastructure import ensure_infrastructure
from pipeline.local import cloudfront as local_cloudfront

from .conftest import SAMPLES
from .test_e2e_cli import run
from .test_signing import verify, write_key


def write_config(folder: Path, buckets: dict[str, str], extra: str = "") -> Path:
    config = folder / "mediapub.toml"
    config.write_text(
        f'[streaming]\nbucket = "{buckets["streaming"]}"\n{extra}\n'
        f'[player]\nbucket = "{buckets["player"]}"\n'
    )
    return config


@pytest.fixture
def published(make_context: Any) -> Any:
    ctx = make_context()
    return ctx, ensure_infrastructure(ctx)


@pytest.fixture
def slow_deploys() -> Iterator[None]:
    local_cloudfront.configure(deploy_seconds=1.5)
    try:
        yield
    finally:
        local_cloudfront.configure(deploy_seconds=0)


def test_dry_run_prints_the_distribution_diff_and_changes_nothing(
    published: Any, aws_env: dict[str, str], buckets: dict[str, str], tmp_path: Path
) -> None:
    ctx, infra = published
    folder = tmp_path / "cli"
    folder.mkdir()
    write_config(folder, buckets, 'cnames = ["media.example.com"]\nprice_class = "PriceClass_100"')
    done = run(["publish", "--dry-run", str(SAMPLES / "clip.mp4")], folder, aws_env)
    assert done.returncode == 0, done.stderr
    dist = infra.streaming.id
    assert f'would update streaming distribution {dist}: Aliases: [] -> ["media.example.com"]' in (
        done.stdout
    )
    assert (
        f'would update streaming distribution {dist}: PriceClass: "PriceClass_All" -> '
        '"PriceClass_100"' in done.stdout
    )
    assert f"would update download distribution {infra.download.id}: PriceClass" in done.stdout
    config = ctx.cloudfront.get_streaming_distribution_config(Id=dist)
    assert config["StreamingDistributionConfig"]["PriceClass"] == "PriceClass_All"

    # Nothing to change: the plan says so.
    write_config(folder, buckets)
    done = run(["publish", "--dry-run", str(SAMPLES / "clip.mp4")], folder, aws_env)
    assert f"streaming distribution {dist}: no change" in done.stdout


def test_list_show_disable_enable(
    published: Any, aws_env: dict[str, str], buckets: dict[str, str], tmp_path: Path
) -> None:
    ctx, infra = published
    write_config(tmp_path, buckets)
    done = run(["distributions", "list", "--json"], tmp_path, aws_env)
    assert done.returncode == 0, done.stderr
    rows = {row["id"]: row for row in json.loads(done.stdout)["distributions"]}
    assert rows[infra.streaming.id]["kind"] == "streaming"
    assert rows[infra.streaming.id]["managed"] is True
    assert rows[infra.download.id]["kind"] == "download"
    assert rows[infra.streaming.id]["origins"] == [buckets["streaming"]]

    table = run(["distributions", "list"], tmp_path, aws_env)
    assert infra.streaming.id in table.stdout and "streaming" in table.stdout

    shown = json.loads(run(["distributions", "show", infra.streaming.id, "--json"], tmp_path,
                           aws_env).stdout)  # fmt: skip
    assert shown["config"]["CallerReference"] == f"mediapub-streaming-{buckets['streaming']}"

    done = run(["distributions", "disable", infra.streaming.id, "--wait"], tmp_path, aws_env)
    assert done.returncode == 0, done.stderr
    assert f"streaming distribution {infra.streaming.id} disabled" in done.stdout
    assert "the next publish sets it back" in done.stderr
    assert not distributions.describe(ctx.cloudfront, infra.streaming.id).info.enabled
    again = run(["distributions", "disable", infra.streaming.id], tmp_path, aws_env)
    assert "was already disabled" in again.stdout
    run(["distributions", "enable", infra.streaming.id], tmp_path, aws_env)
    assert distributions.describe(ctx.cloudfront, infra.streaming.id).info.enabled

    missing = run(["distributions", "show", "ENOSUCHTHING"], tmp_path, aws_env)
    assert missing.returncode == ExitStatus.AWS
    assert "No distribution 'ENOSUCHTHING'" in missing.stderr


@pytest.mark.usefixtures("slow_deploys")
def test_delete_waits_or_times_out_with_its_status(
    published: Any, aws_env: dict[str, str], buckets: dict[str, str], tmp_path: Path
) -> None:
    ctx, infra = published
    write_config(tmp_path, buckets)
    # Without --wait: disabled, not deleted yet, exit status 6 and how to go on.
    done = run(["distributions", "delete", infra.streaming.id], tmp_path, aws_env)
    assert done.returncode == ExitStatus.TIMEOUT, done.stderr
    assert f"delete it with: mediapub distributions delete {infra.streaming.id}" in done.stderr
    assert not distributions.describe(ctx.cloudfront, infra.streaming.id).info.enabled

    done = run(
        ["distributions", "delete", infra.streaming.id, "--wait", "--timeout", "60"],
        tmp_path,
        aws_env,
    )
    assert done.returncode == 0, done.stderr
    assert f"streaming distribution {infra.streaming.id} deleted" in done.stdout
    found, _ = distributions.list_all(ctx.cloudfront)
    assert infra.streaming.id not in {d.info.id for d in found}


def test_sign_prints_fresh_urls_that_verify(
    aws_env: dict[str, str], buckets: dict[str, str], tmp_path: Path
) -> None:
    key_file = write_key(tmp_path / "signing-key.pem")
    public_key = serialization.load_pem_private_key(key_file.read_bytes(), None).public_key()
    write_config(
        tmp_path,
        buckets,
        'private = true\n[signing]\nkey_pair_id = "APKACLI"\n'
        f'private_key_file = "{key_file.name}"\nexpires = "24h"',
    )
    done = run(["publish", str(SAMPLES / "clip.mp4"), "--json"], tmp_path, aws_env)
    assert done.returncode == 0, done.stderr
    before = datetime.now(UTC)
    signed = run(["sign", "clip.mp4", "--expires", "1h", "--json"], tmp_path, aws_env)
    assert signed.returncode == 0, signed.stderr
    urls = json.loads(signed.stdout)
    checked = verify(urls["http_url"], public_key, datetime.now(UTC))
    assert abs(checked.expires - (before + timedelta(hours=1)).timestamp()) < 30
    stream = urls["rtmp_stream"]
    assert stream.startswith("mp4:media/clip.mp4?Expires=")
    assert verify(stream.removeprefix("mp4:"), public_key, datetime.now(UTC)).resource == (
        "media/clip.mp4"
    )
    assert urllib.parse.unquote(urls["rtmp_stream_escaped"]) == stream
    with pytest.raises(Exception, match="expired"):
        verify(urls["http_url"], public_key, datetime.now(UTC) + timedelta(hours=1, minutes=1))

    # The jwplayer snippet carries the escaped form; the page says when links expire.
    snippet = run(["snippet", "clip.mp4", "--format", "jwplayer"], tmp_path, aws_env)
    assert "mp4:media/clip.mp4%3FExpires%3D" in snippet.stdout
    page = next((tmp_path / "site" / "items").glob("*.html")).read_text()
    assert "stop working at" in page

    bad = run(["sign", "clip.mp4", "--expires", "soon"], tmp_path, aws_env)
    assert bad.returncode == ExitStatus.CONFIG and "signing.expires" in bad.stderr


def test_sign_without_private_streaming_says_what_to_set(
    aws_env: dict[str, str], buckets: dict[str, str], tmp_path: Path
) -> None:
    write_config(tmp_path, buckets)
    publisher_done = run(["publish", str(SAMPLES / "clip.mp4")], tmp_path, aws_env)
    assert publisher_done.returncode == 0, publisher_done.stderr
    done = run(["sign", "clip.mp4"], tmp_path, aws_env)
    assert done.returncode == ExitStatus.CONFIG
    assert "streaming.private = true" in done.stderr
    assert publisher is not None


def test_local_stack_trusts_a_key_given_on_its_command_line(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    import re
    import signal
    import subprocess
    import urllib.error
    import urllib.request

    from .conftest import mediapub_command, need

    need("nginx")
    key_file = write_key(tmp_path / "pk.pem")
    local = subprocess.Popen(
        [*mediapub_command(), "local", "--trust-key", f"APKALOCAL={key_file}"],
        cwd=tmp_path, env=aws_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert local.stdout is not None
        first = local.stdout.readline()
        endpoint = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert endpoint is not None, first
        env = {**aws_env, "MEDIAPUB_ENDPOINT_URL": endpoint.group(0)}
        write_config(
            tmp_path,
            {"streaming": "trusted-media", "player": "trusted-player"},
            'private = true\n[signing]\nkey_pair_id = "APKALOCAL"\nprivate_key_file = "pk.pem"',
        )
        done = run(["publish", str(SAMPLES / "clip.mp4"), "--json"], tmp_path, env)
        assert done.returncode == 0, done.stderr
        url = json.loads(done.stdout)["manifest"]["items"][0]["http_url"]
        with urllib.request.urlopen(url, timeout=10) as reply:
            assert reply.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url.partition("?")[0], timeout=10)
        assert refused.value.code == 403
    finally:
        local.send_signal(signal.SIGINT)
        local.wait(30)

    bad = run(["local", "--trust-key", "no-equals-sign"], tmp_path, aws_env)
    assert bad.returncode == ExitStatus.USAGE and "KEY_PAIR_ID=PEM_FILE" in bad.stderr
