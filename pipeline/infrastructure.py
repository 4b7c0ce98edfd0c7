"""Ensure everything items are published through: buckets, public access, player files, the
download distribution, crossdomain.xml and the streaming distribution (in that order), each
found or created, never duplicated, and recorded in the state store."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from pipeline import distributions, storage
from pipeline.context import Context
from pipeline.distributions import DistributionInfo, RtmpRefused
from pipeline.site import SITE_PREFIXES, bundled_templates
from pipeline.state import InfraRecord

log = logging.getLogger(__name__)

PLAYER_PREFIX = "player/"
PLAYER_ENTRY = "player.js"


@dataclass
class Infrastructure:
    """What one run publishes through; `streaming` is None when RTMP is off or refused."""

    download: DistributionInfo
    streaming: DistributionInfo | None
    media_public_acl: bool
    player_public_acl: bool
    player_key: str
    rtmp_refusal: str = ""
    crossdomain_domains: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)


def ensure_infrastructure(ctx: Context, *, wait: bool = False) -> Infrastructure:
    settings = ctx.settings
    streaming_bucket, player_bucket = settings.streaming.bucket, settings.player.bucket
    actions: list[str] = []

    # Buckets, and how their objects are made public.
    for bucket in dict.fromkeys([streaming_bucket, player_bucket]):
        ctx.progress.step(f"bucket {bucket}")
        if storage.ensure_bucket(ctx.s3, bucket, settings.region):
            actions.append(f"created bucket {bucket}")
    media_acl = _make_public(ctx, streaming_bucket, [settings.streaming.prefix, "crossdomain.xml"])
    player_prefixes = [PLAYER_PREFIX, *SITE_PREFIXES]
    if player_bucket == streaming_bucket:
        player_acl = media_acl
        _make_public(
            ctx, player_bucket, [settings.streaming.prefix, "crossdomain.xml", *player_prefixes]
        )
    else:
        player_acl = _make_public(ctx, player_bucket, player_prefixes)

    # Player files, then the download distribution that serves them (and the media over HTTP).
    ctx.progress.step("player files")
    player_key = _upload_player(ctx, player_acl, actions)
    ctx.store.put_infra(InfraRecord("player_entry", player_key, updated_at=ctx.now()))
    ctx.progress.step("download distribution")
    record = ctx.store.get_infra("download_distribution")
    download = distributions.ensure_download(
        ctx.cloudfront, settings, record.resource_id if record else ""
    )
    if download.created:
        actions.append(f"created download distribution {download.id}")
    _record_distribution(ctx, "download_distribution", download)

    # crossdomain.xml at the root of the streaming bucket.
    ctx.progress.step("crossdomain.xml")
    domains = list(settings.crossdomain.allow) or [
        _host(download.domain),
        *download.cnames,
    ]
    _put_crossdomain(ctx, domains, media_acl, actions)

    # The streaming distribution, once; a refusal is recorded and publishing goes on.
    streaming: DistributionInfo | None = None
    refusal = ""
    if settings.rtmp:
        ctx.progress.step("streaming distribution")
        record = ctx.store.get_infra("streaming_distribution")
        try:
            streaming = distributions.ensure_streaming(
                ctx.cloudfront, settings, record.resource_id if record else ""
            )
        except RtmpRefused as exc:
            refusal = str(exc)
            log.warning("%s", refusal)
            ctx.store.put_infra(
                InfraRecord(
                    "rtmp_refusal", exc.code, data={"message": refusal}, updated_at=ctx.now()
                )
            )
        else:
            if streaming.created:
                actions.append(f"created streaming distribution {streaming.id}")
            _record_distribution(ctx, "streaming_distribution", streaming)

    if wait:
        for info in (download, streaming):
            if info is not None and info.status != "Deployed":
                ctx.progress.step(f"waiting for {info.kind} distribution {info.id}")
                distributions.wait_deployed(ctx.cloudfront, info, delay=_wait_delay(ctx))
                info.status = "Deployed"
                _record_distribution(ctx, f"{info.kind}_distribution", info)
    return Infrastructure(
        download=download,
        streaming=streaming,
        media_public_acl=media_acl,
        player_public_acl=player_acl,
        player_key=player_key,
        rtmp_refusal=refusal,
        crossdomain_domains=domains,
        actions=actions,
    )


def _wait_delay(ctx: Context) -> int:
    return 1 if ctx.is_local else 60


def _host(domain: str) -> str:
    """`127.0.0.1:8080` -> `127.0.0.1`; crossdomain.xml names hosts, not ports."""
    return domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain


def _make_public(ctx: Context, bucket: str, prefixes: list[str]) -> bool:
    """Return True when objects are made public by ACL, after setting a policy otherwise."""
    mode = storage.public_access_mode(ctx.s3, bucket, ctx.settings.streaming.public_access)
    if mode == "policy":
        storage.ensure_public_policy(
            ctx.s3, bucket, prefixes, ctx.settings.streaming.manage_public_access_block
        )
    return mode == "acl"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _put_if_changed(
    ctx: Context, record_name: str, bucket: str, key: str, body: bytes, content_type: str, acl: bool
) -> bool:
    """Write a generated object unless the state store says the same bytes are there."""
    digest = _sha256(body)
    record = ctx.store.get_infra(record_name)
    same = record and record.etag == digest and record.resource_id == f"{bucket}/{key}"
    if same and storage.stored_hash(ctx.s3, bucket, key) is not None:
        return False
    storage.put_bytes(ctx.s3, bucket, key, body, content_type, acl)
    ctx.store.put_infra(
        InfraRecord(record_name, f"{bucket}/{key}", etag=digest, updated_at=ctx.now())
    )
    return True


def _put_crossdomain(ctx: Context, domains: list[str], acl: bool, actions: list[str]) -> None:
    body = storage.crossdomain_xml(domains)
    bucket = ctx.settings.streaming.bucket
    if _put_if_changed(
        ctx, "crossdomain", bucket, storage.CROSSDOMAIN_KEY, body, "text/x-cross-domain-policy", acl
    ):
        actions.append(f"wrote s3://{bucket}/{storage.CROSSDOMAIN_KEY}")


def _upload_player(ctx: Context, acl: bool, actions: list[str]) -> str:
    """Upload the media player's files publicly; return the key of its entry file."""
    settings = ctx.settings
    files = storage.player_source_files(settings.player.path, bundled_templates() / "player")
    for path, name in files:
        key = PLAYER_PREFIX + name
        body = path.read_bytes()
        content_type = storage.guess_type(path)
        if _put_if_changed(
            ctx, f"player:{name}", settings.player.bucket, key, body, content_type, acl
        ):
            actions.append(f"uploaded player file {key}")
    names = [name for _, name in files]
    entry = next((n for n in (PLAYER_ENTRY, "index.html") if n in names), names[0])
    return PLAYER_PREFIX + entry


def serves_https(settings_https: bool, domain: str) -> bool:
    """HTTPS URLs when asked for, except on local edges (loopback), which speak plain HTTP."""
    host = _host(domain)
    return settings_https and not (host.startswith("127.") or host in ("localhost", "[::1]"))


def _record_distribution(ctx: Context, name: str, info: DistributionInfo) -> None:
    data: dict[str, Any] = {
        "enabled": info.enabled,
        "cnames": info.cnames,
        "price_class": info.price_class,
        "comment": info.comment,
    }
    if info.kind == "download":
        data["https"] = serves_https(ctx.settings.player.https, info.domain)
    ctx.store.put_infra(
        InfraRecord(name, info.id, info.domain, info.etag, info.status, data, ctx.now())
    )
