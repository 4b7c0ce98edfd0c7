"""Ensure everything items are published through: buckets, public access, player files, the
download distribution, crossdomain.xml and the streaming distribution (in that order), each
found or created, never duplicated, and recorded in the state store."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pipeline import distributions, storage
from pipeline.context import Context
from pipeline.distributions import DistributionInfo, RtmpRefused
from pipeline.errors import AWSError
from pipeline.site import SITE_PREFIXES, bundled_templates
from pipeline.state import InfraRecord

log = logging.getLogger(__name__)

T = TypeVar("T")
PLAYER_PREFIX = "player/"
PLAYER_ENTRY = "player.js"
# The largest signing key whose signed stream names fit nginx-rtmp's 255-byte name buffer.
LOCAL_RTMP_KEY_BITS = 1024


@dataclass
class Infrastructure:
    """What one run publishes through; `streaming` is None when RTMP is off or refused."""

    download: DistributionInfo
    streaming: DistributionInfo | None
    access: PublicAccess
    player_key: str
    rtmp_refusal: str = ""
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
    access = PublicAccess(ctx)
    for bucket in access.prefixes:
        access.prepare(bucket)

    _media_access(ctx, access, actions)

    # Private streaming: the distributions read the media through an origin access identity.
    identity = ""
    if settings.streaming.private:
        ctx.progress.step("origin access identity")
        record = ctx.store.get_infra("origin_identity")
        oai = distributions.ensure_origin_identity(
            ctx.cloudfront, streaming_bucket, record.resource_id if record else ""
        )
        identity = oai.id
        ctx.store.put_infra(InfraRecord("origin_identity", oai.id, updated_at=ctx.now()))
        storage.grant_private_read(
            ctx.s3, streaming_bucket, settings.streaming.prefix, oai.principal
        )
        if ctx.local is not None:
            from pipeline.signing import load_private_key

            key = load_private_key(settings.signing.private_key_file)
            ctx.local.trust_signing_key(settings.signing.key_pair_id, key.public_key())
            if settings.rtmp and key.key_size > LOCAL_RTMP_KEY_BITS:
                log.warning(
                    "On the local stack nginx-rtmp reads at most 255 bytes of a stream name, "
                    "and a name signed with a %d-bit key is longer, so signed RTMP URLs do "
                    "not play here (signed HTTP URLs do). CloudFront took such names; to try "
                    "signed RTMP locally, sign with a %d-bit key.",
                    key.key_size,
                    LOCAL_RTMP_KEY_BITS,
                )

    # Player files, then the download distribution that serves them (and the media over HTTP).
    ctx.progress.step("player files")
    player_key = _upload_player(ctx, access, actions)
    ctx.store.put_infra(InfraRecord("player_entry", player_key, updated_at=ctx.now()))
    ctx.progress.step("download distribution")
    record = ctx.store.get_infra("download_distribution")
    download = distributions.ensure_download(
        ctx.cloudfront, settings, record.resource_id if record else "", identity
    )
    actions += _distribution_actions(download)
    _record_distribution(ctx, "download_distribution", download)

    # crossdomain.xml at the root of the streaming bucket.
    ctx.progress.step("crossdomain.xml")
    domains = list(settings.crossdomain.allow) or [
        _host(download.domain),
        *download.cnames,
    ]
    _put_crossdomain(ctx, domains, access, actions)

    # The streaming distribution, once; a refusal is recorded and publishing goes on.
    streaming: DistributionInfo | None = None
    refusal = ""
    if settings.rtmp:
        ctx.progress.step("streaming distribution")
        record = ctx.store.get_infra("streaming_distribution")
        try:
            streaming = distributions.ensure_streaming(
                ctx.cloudfront, settings, record.resource_id if record else "", identity
            )
        except RtmpRefused as exc:
            refusal = str(exc)
            log.info("%s", refusal)  # the caller reports it once
            ctx.store.put_infra(
                InfraRecord(
                    "rtmp_refusal", exc.code, data={"message": refusal}, updated_at=ctx.now()
                )
            )
        else:
            actions += _distribution_actions(streaming)
            _record_distribution(ctx, "streaming_distribution", streaming)

    if wait:
        for info in (download, streaming):
            if info is not None and info.status != "Deployed":
                ctx.progress.step(f"waiting for {info.kind} distribution {info.id}")
                deployed = distributions.wait_deployed(
                    ctx.cloudfront, info, interval=wait_interval(ctx)
                )
                info.status = deployed.status
                _record_distribution(ctx, f"{info.kind}_distribution", info)
    return Infrastructure(
        download=download,
        streaming=streaming,
        access=access,
        player_key=player_key,
        rtmp_refusal=refusal,
        actions=actions,
    )


def plan_distributions(ctx: Context) -> list[str]:
    """What a publish would do to the distributions, found with read-only calls and shown as
    a diff of the managed fields. On the local target, whose stack starts afresh with each
    run, nothing can be read beforehand."""
    settings = ctx.settings
    plans = [("download", settings.player.bucket, distributions.DOWNLOAD)]
    if settings.rtmp:
        plans.append(("streaming", settings.streaming.bucket, distributions.STREAMING))
    identity = ctx.store.get_infra("origin_identity") if settings.streaming.private else None
    lines = []
    for kind, bucket, api in plans:
        record = ctx.store.get_infra(f"{kind}_distribution")
        known = record.resource_id if record else ""
        if settings.target != "aws":
            lines.append(
                f"would check the {kind} distribution {known}"
                if known
                else f"would find or create the {kind} distribution"
            )
            continue
        oai = identity.resource_id if identity else ""
        wanted = (
            distributions.download_config(settings, oai)
            if kind == "download"
            else distributions.streaming_config(settings, oai)
        )
        try:
            found = distributions.lookup(ctx.cloudfront, api, wanted, bucket, known)
            if found is None:
                lines.append(f"would create the {kind} distribution for {bucket}")
                continue
            info = distributions.converge(ctx.cloudfront, api, found.id, wanted, dry_run=True)
        except AWSError as exc:
            lines.append(f"cannot read the {kind} distribution: {exc}")
            continue
        if not info.changes:
            lines.append(f"{kind} distribution {info.id}: no change")
        lines += [f"would update {kind} distribution {info.id}: {c}" for c in info.changes]
    return lines


def _media_access(ctx: Context, access: PublicAccess, actions: list[str]) -> None:
    """When streaming.private changes, the ACLs of media already published follow (the
    bucket policy is set by `PublicAccess` and the origin access identity grant)."""
    streaming = ctx.settings.streaming
    wanted = "private" if streaming.private else "public"
    record = ctx.store.get_infra("media_access")
    previous = record.resource_id if record else "public"
    if previous != wanted and access.acl(streaming.bucket):
        count = storage.set_prefix_acl(
            ctx.s3, streaming.bucket, streaming.prefix, public=not streaming.private
        )
        if count:
            actions.append(f"made {count} media objects in s3://{streaming.bucket} {wanted}")
    if previous == "private" and wanted == "public":
        storage.revoke_private_read(ctx.s3, streaming.bucket, streaming.prefix)
    if record is None or record.resource_id != wanted:
        ctx.store.put_infra(InfraRecord("media_access", wanted, updated_at=ctx.now()))


def wait_interval(ctx: Context) -> float:
    """Seconds between status polls: CloudFront deploys in minutes, a local stack (embedded,
    or `mediapub local` on a loopback endpoint) in seconds."""
    endpoint = ctx.endpoint_url or ""
    loopback = endpoint.startswith(("http://127.", "http://localhost", "http://[::1]"))
    return 0.5 if ctx.is_local or loopback else 20.0


def _distribution_actions(info: DistributionInfo) -> list[str]:
    if info.created:
        return [f"created {info.kind} distribution {info.id}"]
    return [f"updated {info.kind} distribution {info.id}: {change}" for change in info.changes]


def _host(domain: str) -> str:
    """`127.0.0.1:8080` -> `127.0.0.1`; crossdomain.xml names hosts, not ports."""
    return domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain


class PublicAccess:
    """How each bucket's objects are made public: `public-read` ACLs, or a bucket policy on
    exactly mediapub's prefixes (never the listing).

    With `public_access = "auto"` the bucket's Object Ownership decides, and a bucket that
    refuses an ACL anyway (`AccessControlListNotSupported`: ACLs disabled, the AWS default
    since April 2023) is switched to the policy on the spot and the write is repeated.
    """

    def __init__(self, ctx: Context) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.private_prefix = settings.streaming.prefix if settings.streaming.private else None
        self.private_bucket = settings.streaming.bucket
        media = [storage.CROSSDOMAIN_KEY]
        if self.private_prefix is None:
            media.insert(0, settings.streaming.prefix)
        player = [PLAYER_PREFIX, *SITE_PREFIXES]
        self.prefixes: dict[str, list[str]] = {settings.streaming.bucket: media}
        self.prefixes.setdefault(settings.player.bucket, [])
        self.prefixes[settings.player.bucket] += player
        self._acl: dict[str, bool] = {}
        self._lock = threading.Lock()

    def prepare(self, bucket: str) -> None:
        mode = storage.public_access_mode(
            self.ctx.s3, bucket, self.ctx.settings.streaming.public_access
        )
        if mode == "policy":
            self._policy(bucket)
        elif self.private_prefix is not None and bucket == self.private_bucket:
            storage.revoke_public_read(self.ctx.s3, bucket, self.private_prefix)
        self._acl[bucket] = mode == "acl"

    def is_private(self, bucket: str, key: str) -> bool:
        """Private streaming media: readable only through the distributions."""
        prefix = self.private_prefix
        return prefix is not None and bucket == self.private_bucket and key.startswith(prefix)

    def _policy(self, bucket: str) -> None:
        settings = self.ctx.settings.streaming
        storage.ensure_public_policy(
            self.ctx.s3, bucket, self.prefixes[bucket], settings.manage_public_access_block
        )

    def acl(self, bucket: str) -> bool:
        return self._acl.get(bucket, False)

    def put(self, bucket: str, write: Callable[[bool], T], key: str = "") -> T:
        """Run `write(acl)`; on an ACL refusal in auto mode, switch to the policy, run again.
        Private streaming media is written without the public ACL."""
        if self.is_private(bucket, key):
            return write(False)
        acl = self.acl(bucket)
        try:
            return write(acl)
        except AWSError as exc:
            auto = self.ctx.settings.streaming.public_access == "auto"
            if not (acl and auto and exc.code == "AccessControlListNotSupported"):
                raise
        with self._lock:
            if self._acl.get(bucket):
                log.warning(
                    "bucket %s does not allow ACLs; publishing through a bucket policy on %s",
                    bucket,
                    ", ".join(p + "*" for p in self.prefixes[bucket]),
                )
                self._policy(bucket)
                self._acl[bucket] = False
        return write(False)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _put_if_changed(
    ctx: Context,
    access: PublicAccess,
    record_name: str,
    bucket: str,
    key: str,
    body: bytes,
    content_type: str,
) -> bool:
    """Write a generated object unless the state store says the same bytes are there."""
    digest = _sha256(body)
    record = ctx.store.get_infra(record_name)
    same = record and record.etag == digest and record.resource_id == f"{bucket}/{key}"
    if same and storage.stored_hash(ctx.s3, bucket, key) is not None:
        return False
    access.put(bucket, lambda acl: storage.put_bytes(ctx.s3, bucket, key, body, content_type, acl))
    ctx.store.put_infra(
        InfraRecord(record_name, f"{bucket}/{key}", etag=digest, updated_at=ctx.now())
    )
    return True


def _put_crossdomain(
    ctx: Context, domains: list[str], access: PublicAccess, actions: list[str]
) -> None:
    body = storage.crossdomain_xml(domains)
    bucket = ctx.settings.streaming.bucket
    content_type = "text/x-cross-domain-policy"
    key = storage.CROSSDOMAIN_KEY
    if _put_if_changed(ctx, access, "crossdomain", bucket, key, body, content_type):
        actions.append(f"wrote s3://{bucket}/{storage.CROSSDOMAIN_KEY}")


def _upload_player(ctx: Context, access: PublicAccess, actions: list[str]) -> str:
    """Upload the media player's files publicly; return the key of its entry file."""
    settings = ctx.settings
    files = storage.player_source_files(settings.player.path, bundled_templates() / "player")
    for path, name in files:
        key = PLAYER_PREFIX + name
        body = path.read_bytes()
        content_type = storage.guess_type(path)
        if _put_if_changed(
            ctx, access, f"player:{name}", settings.player.bucket, key, body, content_type
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
