"""Distributions converge on the config, and are listed, disabled and deleted safely, on the
embedded local stack (real HTTP to the local CloudFront, which enforces IfMatch, ETags,
deployment delays and disable-before-delete)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline import distributions
from pipeline.config import LoggingSettings
from pipeline.context import Context
from pipeline.distributions import Change, WaitTimeout
from pipeline.errors import AWSError, ConfigError, ExitStatus
from pipeline.infrastructure import ensure_infrastructure
from pipeline.local import cloudfront as local_cloudfront


class Calls:
    """Every CloudFront operation a client sends."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        client.meta.events.register("before-call.cloudfront.*", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def updates(self) -> list[str]:
        return [n for n in self.names if n.startswith("Update")]

    def clear(self) -> None:
        self.names.clear()


def with_streaming(ctx: Context, **changes: Any) -> Context:
    """The same context with some streaming.* settings changed."""
    streaming = dataclasses.replace(ctx.settings.streaming, **changes)
    return dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, streaming=streaming))


@pytest.fixture
def deploying() -> Iterator[None]:
    """Distributions take a second to deploy, as CloudFront's take minutes."""
    local_cloudfront.configure(deploy_seconds=1.0)
    try:
        yield
    finally:
        local_cloudfront.configure(deploy_seconds=0)


def test_each_config_change_is_one_update_of_the_same_distribution(make_context: Any) -> None:
    ctx = make_context()
    first = ensure_infrastructure(ctx)
    assert first.streaming is not None
    dist_id, download_id = first.streaming.id, first.download.id
    calls = Calls(ctx.cloudfront)

    steps: list[tuple[dict[str, Any], list[str]]] = [
        ({"cnames": ("a.example.com",)}, ["Aliases"]),
        ({"cnames": ("a.example.com", "b.example.com")}, ["Aliases"]),
        ({"cnames": ("b.example.com",)}, ["Aliases"]),
        ({"price_class": "PriceClass_100", "comment": "films"}, ["Comment", "PriceClass"]),
        (
            {"logging": LoggingSettings(True, "logs-bucket.s3.amazonaws.com", "rtmp/")},
            ["Logging"],
        ),
        ({"logging": LoggingSettings()}, ["Logging"]),
        ({"enabled": False}, ["Enabled"]),
    ]
    current = ctx
    for change, fields in steps:
        current = with_streaming(current, **change)
        calls.clear()
        infra = ensure_infrastructure(current)
        assert infra.streaming is not None
        assert infra.streaming.id == dist_id
        # The download distribution shares the price class; nothing else touches it.
        expected = ["UpdateStreamingDistribution"]
        if "price_class" in change:
            expected.insert(0, "UpdateDistribution")
        assert calls.updates() == expected, change
        assert sorted(c.field for c in infra.streaming.changes) == sorted(fields)
        assert any(a.startswith(f"updated streaming distribution {dist_id}") for a in infra.actions)

    got = ctx.cloudfront.get_streaming_distribution_config(Id=dist_id)
    config = got["StreamingDistributionConfig"]
    assert config["Aliases"]["Items"] == ["b.example.com"]
    assert (config["PriceClass"], config["Comment"], config["Enabled"]) == (
        "PriceClass_100", "films", False,
    )  # fmt: skip
    assert config["Logging"] == {"Enabled": False, "Bucket": "", "Prefix": ""}

    # Nothing differs now: a publish reads but never updates.
    calls.clear()
    again = ensure_infrastructure(current)
    assert calls.updates() == []
    assert again.streaming is not None and again.streaming.changes == []
    assert again.download.id == download_id
    assert not any(a.startswith("updated") for a in again.actions)


def test_download_distribution_follows_https_and_price_class(make_context: Any) -> None:
    ctx = make_context()
    first = ensure_infrastructure(ctx)
    calls = Calls(ctx.cloudfront)
    changed = dataclasses.replace(
        ctx,
        settings=dataclasses.replace(
            ctx.settings, player=dataclasses.replace(ctx.settings.player, https=False)
        ),
    )
    infra = ensure_infrastructure(changed)
    assert infra.download.id == first.download.id
    assert calls.updates() == ["UpdateDistribution"]
    assert {c.field for c in infra.download.changes} == {
        "Behaviours[*]",
        "Behaviours[media/*]",
        "Behaviours[crossdomain.xml]",
    }
    config = ctx.cloudfront.get_distribution_config(Id=first.download.id)["DistributionConfig"]
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "allow-all"


def test_an_origin_bucket_change_is_refused_with_the_way_out(make_context: Any) -> None:
    ctx = make_context()
    first = ensure_infrastructure(ctx)
    assert first.streaming is not None
    wanted = distributions.streaming_config(with_streaming(ctx, bucket="another-bucket").settings)
    with pytest.raises(ConfigError) as caught:
        distributions.converge(ctx.cloudfront, distributions.STREAMING, first.streaming.id, wanted)
    message = str(caught.value)
    assert "cannot change a distribution's origin bucket" in message
    assert ctx.settings.streaming.bucket in message and "another-bucket" in message
    assert f"mediapub distributions delete {first.streaming.id}" in message


def test_dry_run_diff_reads_and_changes_nothing(make_context: Any) -> None:
    ctx = make_context()
    first = ensure_infrastructure(ctx)
    assert first.streaming is not None
    calls = Calls(ctx.cloudfront)
    wanted = distributions.streaming_config(
        with_streaming(ctx, cnames=("media.example.com",), price_class="PriceClass_200").settings
    )
    info = distributions.converge(
        ctx.cloudfront, distributions.STREAMING, first.streaming.id, wanted, dry_run=True
    )
    assert calls.updates() == []
    assert info.changes == [
        Change("PriceClass", "PriceClass_All", "PriceClass_200"),
        Change("Aliases", [], ["media.example.com"]),
    ]
    assert [str(c) for c in info.changes] == [
        'PriceClass: "PriceClass_All" -> "PriceClass_200"',
        'Aliases: [] -> ["media.example.com"]',
    ]


def test_a_concurrent_change_is_retried_once_with_the_fresh_etag(make_context: Any) -> None:
    ctx = make_context()
    first = ensure_infrastructure(ctx)
    assert first.streaming is not None
    dist_id = first.streaming.id
    # Someone else changes the distribution between mediapub's read and its update.
    raced = {"done": False}

    def other_writer(params: dict[str, Any], **_: Any) -> None:
        if raced["done"]:
            return
        raced["done"] = True
        got = ctx.cloudfront.get_streaming_distribution_config(Id=dist_id)
        config = {**got["StreamingDistributionConfig"], "Comment": "someone else"}
        ctx.cloudfront.update_streaming_distribution(
            Id=dist_id, IfMatch=got["ETag"], StreamingDistributionConfig=config
        )

    ctx.cloudfront.meta.events.register(
        "provide-client-params.cloudfront.UpdateStreamingDistribution", other_writer
    )
    calls = Calls(ctx.cloudfront)
    wanted = distributions.streaming_config(with_streaming(ctx, comment="mine").settings)
    info = distributions.converge(ctx.cloudfront, distributions.STREAMING, dist_id, wanted)
    ctx.cloudfront.meta.events.unregister(
        "provide-client-params.cloudfront.UpdateStreamingDistribution", other_writer
    )
    # mediapub's first update failed (PreconditionFailed); it read again and won.
    assert calls.updates().count("UpdateStreamingDistribution") == 3  # other, ours x2
    assert info.comment == "mine" and info.id == dist_id


def test_list_shows_both_kinds_and_what_mediapub_manages(make_context: Any) -> None:
    ctx = make_context()
    infra = ensure_infrastructure(ctx)
    assert infra.streaming is not None
    foreign = ctx.cloudfront.create_streaming_distribution(
        StreamingDistributionConfig={
            **distributions.streaming_config(ctx.settings),
            "CallerReference": "someone-else",
            "S3Origin": {"DomainName": "elsewhere.s3.amazonaws.com", "OriginAccessIdentity": ""},
        }
    )["StreamingDistribution"]
    found, notes = distributions.list_all(ctx.cloudfront)
    by_id = {d.info.id: d for d in found}
    assert notes == []
    assert by_id[infra.streaming.id].managed and by_id[infra.download.id].managed
    assert not by_id[foreign["Id"]].managed
    row = by_id[infra.streaming.id].to_json()
    assert row["kind"] == "streaming" and row["origins"] == [ctx.settings.streaming.bucket]
    assert set(row) == {"id", "kind", "domain", "status", "enabled", "origins", "cnames",
                        "comment", "price_class", "managed"}  # fmt: skip
    assert by_id[infra.download.id].to_json()["kind"] == "download"

    # A distribution mediapub did not create is not deleted without --force.
    with pytest.raises(AWSError, match=r"not created by mediapub.*--force"):
        distributions.delete(ctx.cloudfront, foreign["Id"], timeout=5, interval=0.2)
    assert distributions.describe(ctx.cloudfront, foreign["Id"]).info.enabled


@pytest.mark.usefixtures("deploying")
def test_delete_disables_waits_and_deletes_both_kinds(make_context: Any) -> None:
    ctx = make_context()
    infra = ensure_infrastructure(ctx)
    assert infra.streaming is not None
    for dist_id in (infra.streaming.id, infra.download.id):
        seen: list[str] = []
        calls = Calls(ctx.cloudfront)
        info = distributions.delete(
            ctx.cloudfront,
            dist_id,
            timeout=30,
            interval=0.2,
            on_status=lambda status, elapsed, seen=seen: seen.append(status),
        )
        assert not info.enabled
        # Disabled (one update), polled while InProgress, then deleted with the ETag.
        assert calls.updates() in (["UpdateStreamingDistribution"], ["UpdateDistribution"])
        assert seen[0] == "InProgress" and seen[-1] == "Deployed"
        assert calls.names[-1].startswith("Delete")
        with pytest.raises(AWSError, match="No distribution"):
            distributions.describe(ctx.cloudfront, dist_id)


def test_deleting_an_enabled_distribution_directly_is_refused_by_the_stack(
    make_context: Any,
) -> None:
    ctx = make_context()
    infra = ensure_infrastructure(ctx)
    assert infra.streaming is not None
    etag = ctx.cloudfront.get_streaming_distribution(Id=infra.streaming.id)["ETag"]
    with pytest.raises(ctx.cloudfront.exceptions.StreamingDistributionNotDisabled):
        ctx.cloudfront.delete_streaming_distribution(Id=infra.streaming.id, IfMatch=etag)


def test_waiting_gives_up_at_the_timeout_with_its_own_status(make_context: Any) -> None:
    ctx = make_context()
    infra = ensure_infrastructure(ctx)
    assert infra.streaming is not None
    local_cloudfront.configure(deploy_seconds=30)
    try:
        disabled = distributions.set_enabled(ctx.cloudfront, infra.streaming.id, False)
        assert disabled.status == "InProgress"
        with pytest.raises(WaitTimeout) as caught:
            distributions.wait_deployed(ctx.cloudfront, disabled, timeout=1.0, interval=0.3)
    finally:
        local_cloudfront.configure(deploy_seconds=0)
    assert caught.value.exit_status == ExitStatus.TIMEOUT
    message = str(caught.value)
    assert "still InProgress" in message
    assert f"mediapub distributions show {infra.streaming.id}" in message


def test_enable_and_disable_make_no_call_when_already_so(make_context: Any) -> None:
    ctx = make_context()
    infra = ensure_infrastructure(ctx)
    assert infra.streaming is not None
    calls = Calls(ctx.cloudfront)
    same = distributions.set_enabled(ctx.cloudfront, infra.streaming.id, True)
    assert calls.updates() == [] and same.changes == []
    off = distributions.set_enabled(ctx.cloudfront, infra.streaming.id, False)
    assert calls.updates() == ["UpdateStreamingDistribution"]
    assert off.changes == [Change("Enabled", True, False)] and not off.enabled
