"""Publish runs against the embedded local stack over real HTTP, with the same boto3 code that
talks to AWS."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from pipeline import publisher
from pipeline.context import Context
from pipeline.publisher import FAILED_ACTION, UNCHANGED, UPLOADED
from pipeline.state import PUBLISHED, STATE_FILE

from .conftest import SAMPLES


def fetch(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read(), reply.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


@pytest.fixture
def media(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    shutil.copytree(SAMPLES, folder, ignore=shutil.ignore_patterns("*.md", "*.sh"))
    return folder


def actions(result: publisher.PublishResult) -> dict[str, str]:
    return {o.source: o.action for o in result.outcomes}


def count_distributions(ctx: Context) -> tuple[int, int]:
    """Distributions whose origin is this test's buckets."""
    streaming_origin = f"{ctx.settings.streaming.bucket}.s3.amazonaws.com"
    player_origin = f"{ctx.settings.player.bucket}.s3.amazonaws.com"
    listed = ctx.cloudfront.list_streaming_distributions()["StreamingDistributionList"]
    streaming = [
        d for d in listed.get("Items", []) if d["S3Origin"]["DomainName"] == streaming_origin
    ]
    web = ctx.cloudfront.list_distributions()["DistributionList"].get("Items", []) or []
    download = [d for d in web if player_origin in [o["DomainName"] for o in d["Origins"]["Items"]]]
    return len(streaming), len(download)


def test_two_runs_one_of_each_distribution_and_nothing_reuploaded(
    make_context: Any, media: Path
) -> None:
    ctx = make_context()
    first = publisher.publish(ctx, [media])
    assert set(actions(first).values()) == {UPLOADED}
    assert len(first.outcomes) == 3
    assert count_distributions(ctx) == (1, 1)
    second = publisher.publish(ctx, [media])
    assert set(actions(second).values()) == {UNCHANGED}
    assert second.actions == []
    assert count_distributions(ctx) == (1, 1)
    assert second.manifest["items"] == first.manifest["items"]


def test_changed_file_is_reuploaded_alone(make_context: Any, media: Path) -> None:
    ctx = make_context()
    publisher.publish(ctx, [media])
    clip = media / "clip.mp4"
    clip.write_bytes(clip.read_bytes() + b"\0" * 16)
    result = publisher.publish(ctx, [media])
    assert actions(result) == {
        "clip.mp4": UPLOADED,
        "audio/tone.mp3": UNCHANGED,
        "videos/bars and tone.flv": UNCHANGED,
    }
    item = ctx.store.get_item("media/clip.mp4")
    assert item is not None and item.size == clip.stat().st_size and item.attempts == 2
    status, body, _ = fetch(item.http_url)
    assert status == 200 and body == clip.read_bytes()


def test_lost_state_store_still_no_duplicates(make_context: Any, media: Path) -> None:
    ctx = make_context()
    publisher.publish(ctx, [media])
    ctx.close()
    state_file = ctx.settings.state_dir / STATE_FILE
    for path in state_file.parent.glob(STATE_FILE + "*"):
        path.unlink()
    again = make_context()
    result = publisher.publish(again, [media])
    assert set(actions(result).values()) == {UNCHANGED}
    assert count_distributions(again) == (1, 1)
    assert all(i.state == PUBLISHED for i in again.store.items())


def test_objects_public_bucket_and_private_objects_not(make_context: Any, media: Path) -> None:
    ctx = make_context()
    result = publisher.publish(ctx, [media])
    bucket = ctx.settings.streaming.bucket
    ctx.s3.put_object(Bucket=bucket, Key="media/private.mp4", Body=b"secret")
    base = ctx.endpoint_url
    assert fetch(f"{base}/{bucket}/media/private.mp4")[0] == 403
    for item in result.manifest["items"]:
        status, body, content_type = fetch(f"{base}/{bucket}/{item['key'].replace(' ', '%20')}")
        assert status == 200
        assert body == (media / item["source"]).read_bytes()
        assert content_type == item["content_type"]
        # The same bytes through the download distribution's HTTP URL.
        assert fetch(item["http_url"])[1] == body
    acl = ctx.s3.get_bucket_acl(Bucket=bucket)
    assert not any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in acl["Grants"])
    status, body, _ = fetch(result.manifest["crossdomain_url"])
    assert status == 200 and b"<cross-domain-policy>" in body
    host = result.manifest["download_distribution"]["domain"].split(":")[0]
    assert f'<allow-access-from domain="{host}" secure="false"/>'.encode() in body


def test_bad_inputs_fail_alone_and_the_rest_publishes(
    make_context: Any, media: Path, tmp_path: Path
) -> None:
    (media / "empty.mp4").write_bytes(b"")
    (media / "notes.txt").write_text("not media")
    hostile = media / 'q "x" <b>&ü.mp4'
    shutil.copy(media / "clip.mp4", hostile)
    ctx = make_context()
    result = publisher.publish(ctx, [media])
    outcome = {o.source: o for o in result.outcomes}
    assert outcome["empty.mp4"].action == FAILED_ACTION
    assert outcome["empty.mp4"].error_code == "empty"
    assert "is empty (0 bytes)" in outcome["empty.mp4"].error
    assert outcome[hostile.name].action == UPLOADED
    assert any("notes.txt: not a media file" in n for n in result.notes)
    assert [o.source for o in result.failed] == ["empty.mp4"]
    item = next(i for i in result.manifest["items"] if i["source"] == hostile.name)
    assert item["key"] == "media/" + hostile.name
    assert fetch(item["http_url"])[1] == hostile.read_bytes()
    assert (media / "empty.mp4").exists()


def test_dry_run_changes_nothing(make_context: Any, media: Path) -> None:
    ctx = make_context()
    result = publisher.plan(ctx, [media])
    assert set(actions(result).values()) == {publisher.WOULD_UPLOAD}
    assert "would find or create the streaming distribution" in result.actions
    assert count_distributions(ctx) == (0, 0)
    assert ctx.store.items() == []
    names = [b["Name"] for b in ctx.s3.list_buckets()["Buckets"]]
    assert ctx.settings.streaming.bucket not in names


def test_http_only_delivery_never_asks_for_rtmp(make_context: Any, media: Path) -> None:
    ctx = make_context(delivery=["http"])
    result = publisher.publish(ctx, [media])
    assert count_distributions(ctx) == (0, 1)
    assert result.manifest["streaming_distribution"] is None
    assert all(i["rtmp_url"] == "" for i in result.manifest["items"])


def test_same_bucket_for_player_and_media(make_context: Any, media: Path, buckets: Any) -> None:
    ctx = make_context(**{"player.bucket": buckets["streaming"]})
    result = publisher.publish(ctx, [media / "clip.mp4"])
    config = ctx.cloudfront.get_distribution_config(
        Id=result.manifest["download_distribution"]["id"]
    )["DistributionConfig"]
    assert config["Origins"]["Quantity"] == 1
    item = result.manifest["items"][0]
    assert fetch(item["http_url"])[1] == (media / "clip.mp4").read_bytes()
    assert fetch(result.manifest["index_url"])[0] == 200


def test_policy_public_access_mode(make_context: Any, media: Path) -> None:
    ctx = make_context(**{"streaming.public_access": "policy"})
    result = publisher.publish(ctx, [media / "clip.mp4"])
    import json

    policy = json.loads(ctx.s3.get_bucket_policy(Bucket=ctx.settings.streaming.bucket)["Policy"])
    resources = sorted(s["Resource"] for s in policy["Statement"])
    bucket = ctx.settings.streaming.bucket
    assert resources == [
        f"arn:aws:s3:::{bucket}/crossdomain.xml*",
        f"arn:aws:s3:::{bucket}/media/*",
    ]
    assert all(s["Action"] == "s3:GetObject" for s in policy["Statement"])
    item = result.manifest["items"][0]
    assert fetch(item["http_url"])[0] == 200
    acl = ctx.s3.get_object_acl(Bucket=bucket, Key=item["key"])
    assert not any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in acl["Grants"])


def test_wait_polls_until_deployed(make_context: Any, media: Path) -> None:
    from pipeline.local import cloudfront

    cloudfront.configure(deploy_seconds=1.5)
    try:
        ctx = make_context()
        result = publisher.publish(ctx, [media / "clip.mp4"], wait=True)
    finally:
        cloudfront.configure(deploy_seconds=0)
    assert result.manifest["streaming_distribution"]["status"] == "Deployed"
    dist_id = result.manifest["streaming_distribution"]["id"]
    got = ctx.cloudfront.get_streaming_distribution(Id=dist_id)["StreamingDistribution"]
    assert got["Status"] == "Deployed"
    record = ctx.store.get_infra("streaming_distribution")
    assert record is not None and record.status == "Deployed"


def test_custom_player_and_crossdomain_allow(
    make_context: Any, media: Path, tmp_path: Path
) -> None:
    player = tmp_path / "my player"
    (player / "skin").mkdir(parents=True)
    (player / "index.html").write_text("<!doctype html><title>mine</title>")
    (player / "skin" / "look.css").write_text("body{}")
    ctx = make_context(**{"player.path": str(player), "crossdomain.allow": ["*", "*.example.com"]})
    result = publisher.publish(ctx, [media / "clip.mp4"])
    assert result.manifest["player_url"].endswith("/player/index.html")
    status, body, content_type = fetch(result.manifest["player_url"])
    assert (status, body) == (200, b"<!doctype html><title>mine</title>")
    assert content_type.startswith("text/html")
    css = result.manifest["player_url"].replace("index.html", "skin/look.css")
    assert fetch(css)[:2] == (200, b"body{}")
    crossdomain = fetch(result.manifest["crossdomain_url"])[1].decode()
    assert '<allow-access-from domain="*" secure="false"/>' in crossdomain
    assert '<allow-access-from domain="*.example.com" secure="false"/>' in crossdomain
    assert crossdomain.count("<allow-access-from") == 2


def test_missing_custom_player_is_a_config_error(make_context: Any) -> None:
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match=r'player\.path: expected a file or folder.*"/nowhere/p"'):
        make_context(**{"player.path": "/nowhere/p"})


def test_browser_renditions_flv_remux_poster_and_hls(make_context: Any, media: Path) -> None:
    import json as jsonlib
    import subprocess

    from .conftest import need

    need("ffmpeg", "ffprobe")
    ctx = make_context(**{"hls.enabled": True})
    result = publisher.publish(ctx, [media])
    items = {i["source"]: i for i in result.manifest["items"]}
    flv = items["videos/bars and tone.flv"]
    assert flv["http_url"].endswith("/bars%20and%20tone.flv")
    assert flv["play_url"] == flv["http_url"] + ".mp4"
    status, body, content_type = fetch(flv["play_url"])
    assert status == 200 and content_type == "video/mp4" and body[4:8] == b"ftyp"
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", "-"],
        input=body, capture_output=True, check=True,
    )  # fmt: skip
    codecs = sorted(s["codec_name"] for s in jsonlib.loads(probe.stdout)["streams"])
    assert codecs == ["aac", "h264"]  # copied, not re-encoded into something else
    for source in ("clip.mp4", "videos/bars and tone.flv"):
        item = items[source]
        status, body, content_type = fetch(item["poster_url"])
        assert (status, content_type) == (200, "image/jpeg") and body[:2] == b"\xff\xd8"
        status, playlist, content_type = fetch(item["hls_url"])
        assert status == 200 and content_type == "application/vnd.apple.mpegurl"
        segments = [line for line in playlist.decode().splitlines() if line.endswith(".ts")]
        assert segments and b"#EXT-X-ENDLIST" in playlist
        base = item["hls_url"].rsplit("/", 1)[0]
        assert all(fetch(f"{base}/{name}")[0] == 200 for name in segments)
    audio = items["audio/tone.mp3"]
    assert audio["poster_url"] == audio["hls_url"] == "" and audio["play_url"] == audio["http_url"]
    page = (ctx.settings.site_dir / flv["page"]).read_text()
    assert f'poster="{flv["poster_url"]}"' in page
    assert f'<source src="{flv["hls_url"]}" type="application/vnd.apple.mpegurl">' in page
    assert "FLV does not play in browsers" not in page
