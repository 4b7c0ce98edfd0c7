"""CloudFront: find or create the streaming (RTMP) and download (web) distributions.

Identity across runs: each distribution has a deterministic `CallerReference` derived from its
bucket and kind. A distribution is found through the state store's record, then by listing
(same origin and a matching CallerReference or comment), and only then created. A reused
`CallerReference` (answered either with the original distribution or with
`...AlreadyExists`) leads back to the existing one.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import Settings
from pipeline.errors import AWSError, ConfigError, ExitStatus, PipelineError
from pipeline.storage import aws_call, client_error_code, client_error_text

log = logging.getLogger(__name__)

DOWNLOAD_COMMENT = "mediapub download distribution"
# CloudFront's managed "CachingOptimized" cache policy.
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
RTMP_RETIRED = (
    "AWS retired RTMP (streaming) distributions on 2020-12-31, and this provider no longer "
    "creates them. Everything is still published over HTTP through the download "
    'distribution. To stop asking for RTMP, set delivery = ["http"] in mediapub.toml.'
)


@dataclass
class DistributionInfo:
    """What the rest of mediapub needs to know about a distribution."""

    kind: str  # "streaming" | "download"
    id: str
    domain: str
    status: str
    enabled: bool
    etag: str = ""
    cnames: list[str] = field(default_factory=list)
    price_class: str = ""
    comment: str = ""
    origins: list[str] = field(default_factory=list)
    created: bool = False
    changes: list[Change] = field(default_factory=list)


@dataclass(frozen=True)
class Change:
    """One managed field of a distribution that differs from what the config asks for."""

    field: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.field}: {_show(self.old)} -> {_show(self.new)}"


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_show(v)}" for k, v in value.items()) + "}"
    return f'"{value}"' if isinstance(value, str) else str(value)


class RtmpRefused(AWSError):
    """The provider refused to create a streaming distribution."""

    def __init__(self, code: str, provider_message: str) -> None:
        super().__init__(
            f"The provider refused to create the streaming distribution ({code}: "
            f"{provider_message}). {RTMP_RETIRED}",
            code,
        )


def origin_domain(bucket: str) -> str:
    """The S3 origin domain CloudFront wants: virtual-host style, never path style."""
    return f"{bucket}.s3.amazonaws.com"


def caller_reference(kind: str, bucket: str) -> str:
    return f"mediapub-{kind}-{bucket}"


# --- both kinds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Api:
    """The CloudFront operation and field names of one kind of distribution."""

    kind: str
    noun: str  # "StreamingDistribution" | "Distribution"
    snake: str  # "streaming_distribution" | "distribution"

    @property
    def config_key(self) -> str:
        return f"{self.noun}Config"

    def origins(self, summary: dict[str, Any]) -> list[str]:
        if self.kind == "streaming":
            return [summary["S3Origin"]["DomainName"]]
        return [o["DomainName"] for o in summary.get("Origins", {}).get("Items", []) or []]

    def identity_origin(self, config: dict[str, Any]) -> str:
        """The origin a distribution is found by, which can never change: the media bucket of
        a streaming distribution, the player bucket (default behaviour) of a web one."""
        if self.kind == "streaming":
            return str(config["S3Origin"]["DomainName"])
        target = config["DefaultCacheBehavior"]["TargetOriginId"]
        for origin in config.get("Origins", {}).get("Items", []) or []:
            if origin["Id"] == target:
                return str(origin["DomainName"])
        return ""

    def managed(self, config: dict[str, Any]) -> dict[str, Any]:
        """The fields mediapub manages, in a comparable form."""
        logging_ = config.get("Logging") or {}
        logging_on = bool(logging_.get("Enabled"))
        view: dict[str, Any] = {
            "Enabled": bool(config.get("Enabled")),
            "Comment": config.get("Comment", ""),
            "PriceClass": config.get("PriceClass", "PriceClass_All"),
        }
        if self.kind == "streaming":
            signers = config.get("TrustedSigners") or {}
            view.update(
                Aliases=sorted((config.get("Aliases") or {}).get("Items") or []),
                Logging={
                    "Enabled": logging_on,
                    "Bucket": logging_.get("Bucket", "") if logging_on else "",
                    "Prefix": logging_.get("Prefix", "") if logging_on else "",
                },
                TrustedSigners=sorted(signers.get("Items") or []) if signers.get("Enabled") else [],
                OriginAccessIdentity=config["S3Origin"].get("OriginAccessIdentity", ""),
            )
            return view
        view["DefaultRootObject"] = config.get("DefaultRootObject", "")
        for origin in (config.get("Origins") or {}).get("Items") or []:
            identity = (origin.get("S3OriginConfig") or {}).get("OriginAccessIdentity", "")
            view[f"Origins[{origin['Id']}]"] = {
                "Bucket": origin["DomainName"].removesuffix(".s3.amazonaws.com"),
                "OriginAccessIdentity": identity,
            }
        behaviours = [
            config["DefaultCacheBehavior"],
            *((config.get("CacheBehaviors") or {}).get("Items") or []),
        ]
        for behaviour in behaviours:
            view[f"Behaviours[{behaviour.get('PathPattern', '*')}]"] = _behaviour_view(behaviour)
        return view

    def apply(self, current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
        """`current` with every managed field taken from `wanted`; the rest kept."""
        merged = copy.deepcopy(current)
        keys = ["Enabled", "Comment", "PriceClass"]
        if self.kind == "streaming":
            keys += ["Aliases", "Logging", "TrustedSigners"]
            merged["S3Origin"]["OriginAccessIdentity"] = wanted["S3Origin"]["OriginAccessIdentity"]
        else:
            keys += ["DefaultRootObject", "Origins", "DefaultCacheBehavior", "CacheBehaviors"]
        for key in keys:
            merged[key] = copy.deepcopy(wanted[key])
        return merged


def _behaviour_view(behaviour: dict[str, Any]) -> dict[str, Any]:
    signers = behaviour.get("TrustedSigners") or {}
    return {
        "Origin": behaviour["TargetOriginId"],
        "ViewerProtocolPolicy": behaviour["ViewerProtocolPolicy"],
        "TrustedSigners": sorted(signers.get("Items") or []) if signers.get("Enabled") else [],
    }


STREAMING = _Api("streaming", "StreamingDistribution", "streaming_distribution")
DOWNLOAD = _Api("download", "Distribution", "distribution")


def _info(
    api: _Api, dist: dict[str, Any], etag: str = "", created: bool = False
) -> DistributionInfo:
    config = dist[api.config_key]
    return DistributionInfo(
        kind=api.kind,
        id=dist["Id"],
        domain=dist["DomainName"],
        status=dist.get("Status", ""),
        enabled=bool(config.get("Enabled")),
        etag=etag,
        cnames=list(config.get("Aliases", {}).get("Items", []) or []),
        price_class=config.get("PriceClass", ""),
        comment=config.get("Comment", ""),
        origins=[o.removesuffix(".s3.amazonaws.com") for o in api.origins(config)],
        created=created,
    )


def _get(cloudfront: Any, api: _Api, dist_id: str) -> DistributionInfo | None:
    described = _describe(cloudfront, api, dist_id)
    return described.info if described is not None else None


def _find(cloudfront: Any, api: _Api, bucket: str, comment: str) -> DistributionInfo | None:
    """Discover mediapub's distribution for `bucket` by listing: same origin and our
    CallerReference first, else same origin and comment."""
    origin = origin_domain(bucket)
    wanted_ref = caller_reference(api.kind, bucket)
    candidates = []
    with aws_call(f"listing {api.kind} distributions"):
        for page in cloudfront.get_paginator(f"list_{api.snake}s").paginate():
            for summary in page.get(f"{api.noun}List", {}).get("Items", []) or []:
                if origin in api.origins(summary):
                    candidates.append(summary)
    for summary in candidates:
        with aws_call(f"{api.kind} distribution {summary['Id']}"):
            config = getattr(cloudfront, f"get_{api.snake}_config")(Id=summary["Id"])
        if config[api.config_key]["CallerReference"] == wanted_ref:
            return _get(cloudfront, api, summary["Id"])
    for summary in candidates:
        if summary.get("Comment") == comment:
            return _get(cloudfront, api, summary["Id"])
    return None


def lookup(
    cloudfront: Any, api: _Api, config: dict[str, Any], bucket: str, known_id: str
) -> DistributionInfo | None:
    """The recorded distribution, else one found by listing."""
    found = _get(cloudfront, api, known_id) if known_id else None
    return found or _find(cloudfront, api, bucket, config["Comment"])


def _create(cloudfront: Any, api: _Api, config: dict[str, Any], bucket: str) -> DistributionInfo:
    """Create the distribution. Raises ClientError, except for a reused CallerReference,
    which leads to the existing distribution (converged on `config`)."""
    from botocore.exceptions import ClientError

    try:
        reply = getattr(cloudfront, f"create_{api.snake}")(**{api.config_key: config})
    except ClientError as exc:
        existing = None
        if client_error_code(exc) == f"{api.noun}AlreadyExists":
            existing = _find(cloudfront, api, bucket, config["Comment"])
        if existing is None:
            raise
        return converge(cloudfront, api, existing.id, config)
    dist = reply[api.noun]
    log.info("created %s distribution %s (%s)", api.kind, dist["Id"], dist["DomainName"])
    return _info(api, dist, reply.get("ETag", ""), created=True)


def diff(api: _Api, current: dict[str, Any], wanted: dict[str, Any]) -> list[Change]:
    """The managed fields where `current` differs from `wanted`, in a stable order."""
    have, want = api.managed(current), api.managed(wanted)
    keys = [*want, *(k for k in have if k not in want)]
    return [Change(k, have.get(k), want.get(k)) for k in keys if have.get(k) != want.get(k)]


def _check_origin(api: _Api, dist_id: str, current: dict[str, Any], wanted: dict[str, Any]) -> None:
    have, want = api.identity_origin(current), api.identity_origin(wanted)
    if have == want:
        return
    key = "streaming.bucket" if api.kind == "streaming" else "player.bucket"
    old, new = have.removesuffix(".s3.amazonaws.com"), want.removesuffix(".s3.amazonaws.com")
    raise ConfigError(
        f'{key}: the {api.kind} distribution {dist_id} serves bucket "{old}", and CloudFront '
        f'cannot change a distribution\'s origin bucket; the config now says "{new}". Fix: set '
        f'{key} = "{old}" again, or delete the old distribution (mediapub distributions delete '
        f"{dist_id}) and publish again to create one for {new}."
    )


def converge(
    cloudfront: Any, api: _Api, dist_id: str, wanted: dict[str, Any], *, dry_run: bool = False
) -> DistributionInfo:
    """Bring the distribution's managed fields to `wanted` in one update, or none when nothing
    differs. The update names the ETag it read (`IfMatch`); when someone else changed the
    distribution in between (`PreconditionFailed`) it is read and tried once more."""
    from botocore.exceptions import ClientError

    for attempt in (1, 2):
        with aws_call(f"{api.kind} distribution {dist_id}", DISTRIBUTION_FIXES):
            reply = getattr(cloudfront, f"get_{api.snake}_config")(Id=dist_id)
        current, etag = reply[api.config_key], reply.get("ETag", "")
        _check_origin(api, dist_id, current, wanted)
        changes = diff(api, current, wanted)
        if not changes or dry_run:
            info = _get(cloudfront, api, dist_id)
            if info is None:
                raise AWSError(f"{api.kind} distribution {dist_id} disappeared.", "NotFound")
            info.changes = changes
            return info
        try:
            reply = getattr(cloudfront, f"update_{api.snake}")(
                Id=dist_id, IfMatch=etag, **{api.config_key: api.apply(current, wanted)}
            )
        except ClientError as exc:
            if client_error_code(exc) == "PreconditionFailed" and attempt == 1:
                log.info(
                    "%s distribution %s changed meanwhile; reading it again", api.kind, dist_id
                )
                continue
            with aws_call(f"updating {api.kind} distribution {dist_id}", DISTRIBUTION_FIXES):
                raise
        log.info("updated %s distribution %s: %s", api.kind, dist_id, "; ".join(map(str, changes)))
        info = _info(api, reply[api.noun], reply.get("ETag", ""))
        info.changes = changes
        return info
    raise AssertionError("unreachable")  # pragma: no cover


# Plain words for what CloudFront answers when a distribution cannot be created or changed.
DISTRIBUTION_FIXES = {
    "CNAMEAlreadyExists": "One of streaming.cnames already belongs to another CloudFront "
    "distribution (perhaps in another account). Remove it from streaming.cnames, or take it "
    "off the other distribution first.",
    "TooManyStreamingDistributions": "The account has as many streaming distributions as "
    "CloudFront allows. Delete unused ones (mediapub distributions list, then "
    "mediapub distributions delete ID).",
    "TooManyStreamingDistributionCNAMEs": "CloudFront allows at most 10 CNAMEs on a "
    "streaming distribution. Remove some from streaming.cnames.",
    "TrustedSignerDoesNotExist": "The trusted signer has no CloudFront key pair. Create a "
    "CloudFront key pair for the account (signing.key_pair_id) and try again.",
    "InvalidIfMatchVersion": "The distribution changed while mediapub was updating it (the "
    "version it sent is not the current one). Run the command again.",
    "PreconditionFailed": "The distribution was changed by someone else twice while mediapub "
    "was updating it. Run the command again.",
    "IllegalUpdate": "CloudFront does not allow this change (the origin bucket cannot change). "
    "Delete the distribution and publish again to create a new one.",
    "StreamingDistributionNotDisabled": "Disable it first and wait until it is deployed: "
    "mediapub distributions delete does both.",
    "DistributionNotDisabled": "Disable it first and wait until it is deployed: "
    "mediapub distributions delete does both.",
}


# --- streaming -----------------------------------------------------------------------------

SELF_SIGNER = "self"


def _oai_path(identity: str) -> str:
    return f"origin-access-identity/cloudfront/{identity}" if identity else ""


def _signers(private: bool) -> dict[str, Any]:
    if private:
        return {"Enabled": True, "Quantity": 1, "Items": [SELF_SIGNER]}
    return {"Enabled": False, "Quantity": 0}


def streaming_config(settings: Settings, identity: str = "") -> dict[str, Any]:
    """The StreamingDistributionConfig mediapub wants for the configured streaming bucket.

    Private streaming (`streaming.private`) adds the account as trusted signer and reads the
    bucket through the origin access identity `identity`."""
    s = settings.streaming
    cnames = list(s.cnames)
    return {
        "CallerReference": caller_reference("streaming", s.bucket),
        "S3Origin": {
            "DomainName": origin_domain(s.bucket),
            "OriginAccessIdentity": _oai_path(identity) if s.private else "",
        },
        "Aliases": {"Quantity": len(cnames), **({"Items": cnames} if cnames else {})},
        "Comment": s.comment,
        "Logging": {
            "Enabled": s.logging.enabled,
            "Bucket": s.logging.bucket if s.logging.enabled else "",
            "Prefix": s.logging.prefix if s.logging.enabled else "",
        },
        "TrustedSigners": _signers(s.private),
        "PriceClass": s.price_class,
        "Enabled": s.enabled,
    }


def ensure_streaming(
    cloudfront: Any, settings: Settings, known_id: str = "", identity: str = ""
) -> DistributionInfo:
    """Find (and converge) or create the streaming distribution; `RtmpRefused` when the
    provider says no."""
    from botocore.exceptions import ClientError

    bucket = settings.streaming.bucket
    wanted = streaming_config(settings, identity)
    try:
        found = lookup(cloudfront, STREAMING, wanted, bucket, known_id)
    except AWSError as exc:
        # Listing is refused by providers without RTMP as well (a 404 from an emulator).
        raise RtmpRefused(exc.code, str(exc)) from exc
    if found is not None:
        return converge(cloudfront, STREAMING, found.id, wanted)
    try:
        return _create(cloudfront, STREAMING, wanted, bucket)
    except ClientError as exc:
        code = client_error_code(exc)
        if code in DISTRIBUTION_FIXES:
            with aws_call(f"creating the streaming distribution for {bucket}", DISTRIBUTION_FIXES):
                raise
        raise RtmpRefused(code, client_error_text(exc)) from exc


# --- download ------------------------------------------------------------------------------


def _s3_origin(origin_id: str, bucket: str, identity: str = "") -> dict[str, Any]:
    return {
        "Id": origin_id,
        "DomainName": origin_domain(bucket),
        "OriginPath": "",
        "CustomHeaders": {"Quantity": 0},
        "S3OriginConfig": {"OriginAccessIdentity": _oai_path(identity)},
    }


def _behaviour(
    origin_id: str, https: bool, pattern: str = "", private: bool = False
) -> dict[str, Any]:
    behaviour: dict[str, Any] = {
        "TargetOriginId": origin_id,
        "TrustedSigners": _signers(private),
        "ViewerProtocolPolicy": "redirect-to-https" if https else "allow-all",
        "AllowedMethods": {
            "Quantity": 2,
            "Items": ["GET", "HEAD"],
            "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]},
        },
        "Compress": False,
        "CachePolicyId": CACHING_OPTIMIZED,
    }
    if pattern:
        behaviour["PathPattern"] = pattern
    return behaviour


def download_config(settings: Settings, identity: str = "") -> dict[str, Any]:
    """The web distribution: the player bucket by default, the media prefix from the
    streaming bucket (one origin when both are the same bucket and the media is public).

    Private streaming serves the media prefix only with a valid signature (trusted signer
    `self`), read from the bucket through the origin access identity `identity`."""
    player, media = settings.player.bucket, settings.streaming.bucket
    private = settings.streaming.private
    https = settings.player.https
    origins = [_s3_origin("player", player)]
    behaviours = []
    if media != player or private:
        origins.append(_s3_origin("media", media, identity if private else ""))
        behaviours.append(
            _behaviour("media", https, f"{settings.streaming.prefix}*", private=private)
        )
        behaviours.append(_behaviour("media", https, "crossdomain.xml"))
    return {
        "CallerReference": caller_reference("download", player),
        "Aliases": {"Quantity": 0},
        "DefaultRootObject": "index.html",
        "Origins": {"Quantity": len(origins), "Items": origins},
        "DefaultCacheBehavior": _behaviour("player", settings.player.https),
        "CacheBehaviors": {
            "Quantity": len(behaviours),
            **({"Items": behaviours} if behaviours else {}),
        },
        "Comment": DOWNLOAD_COMMENT,
        "PriceClass": settings.streaming.price_class,
        "Enabled": True,
        "HttpVersion": "http2",
    }


def ensure_download(
    cloudfront: Any, settings: Settings, known_id: str = "", identity: str = ""
) -> DistributionInfo:
    """Find (and converge) or create the download (web) distribution serving the player,
    site and media."""
    from botocore.exceptions import ClientError

    bucket = settings.player.bucket
    wanted = download_config(settings, identity)
    found = lookup(cloudfront, DOWNLOAD, wanted, bucket, known_id)
    if found is not None:
        return converge(cloudfront, DOWNLOAD, found.id, wanted)
    try:
        return _create(cloudfront, DOWNLOAD, wanted, bucket)
    except ClientError:
        with aws_call(f"creating the download distribution for {bucket}", DISTRIBUTION_FIXES):
            raise


# --- origin access identity ------------------------------------------------------------------


@dataclass(frozen=True)
class OriginIdentity:
    id: str
    canonical_user: str

    @property
    def principal(self) -> str:
        """The IAM principal a bucket policy grants this identity by."""
        return f"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity {self.id}"


def ensure_origin_identity(cloudfront: Any, bucket: str, known_id: str = "") -> OriginIdentity:
    """The origin access identity mediapub's distributions read the private `bucket` as:
    the recorded one, else one with our CallerReference, else a new one."""
    from botocore.exceptions import ClientError

    reference = caller_reference("oai", bucket)
    what = f"origin access identity for bucket {bucket}"
    ids = [known_id] if known_id else []
    with aws_call(f"listing {what}s"):
        paginator = cloudfront.get_paginator("list_cloud_front_origin_access_identities")
        for page in paginator.paginate():
            listing = page.get("CloudFrontOriginAccessIdentityList", {})
            ids += [i["Id"] for i in listing.get("Items", []) or [] if i["Id"] != known_id]
    for identity_id in ids:
        try:
            reply = cloudfront.get_cloud_front_origin_access_identity(Id=identity_id)
        except ClientError as exc:
            if client_error_code(exc) == "NoSuchCloudFrontOriginAccessIdentity":
                continue
            with aws_call(what):
                raise
        found = reply["CloudFrontOriginAccessIdentity"]
        if found["CloudFrontOriginAccessIdentityConfig"]["CallerReference"] == reference:
            return OriginIdentity(found["Id"], found["S3CanonicalUserId"])
    with aws_call(f"creating the {what}"):
        reply = cloudfront.create_cloud_front_origin_access_identity(
            CloudFrontOriginAccessIdentityConfig={
                "CallerReference": reference,
                "Comment": f"mediapub: private media in {bucket}",
            }
        )
    created = reply["CloudFrontOriginAccessIdentity"]
    log.info("created origin access identity %s for bucket %s", created["Id"], bucket)
    return OriginIdentity(created["Id"], created["S3CanonicalUserId"])


# --- managing distributions ----------------------------------------------------------------

KINDS = (STREAMING, DOWNLOAD)


class WaitTimeout(PipelineError):
    """A distribution did not reach `Deployed` in time."""

    exit_status = ExitStatus.TIMEOUT


@dataclass
class Described:
    """A distribution as `mediapub distributions` shows it."""

    info: DistributionInfo
    managed: bool
    config: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        i = self.info
        return {
            "id": i.id,
            "kind": i.kind,
            "domain": i.domain,
            "status": i.status,
            "enabled": i.enabled,
            "origins": i.origins,
            "cnames": i.cnames,
            "comment": i.comment,
            "price_class": i.price_class,
            "managed": self.managed,
        }


def _describe(cloudfront: Any, api: _Api, dist_id: str) -> Described | None:
    from botocore.exceptions import ClientError

    try:
        reply = getattr(cloudfront, f"get_{api.snake}")(Id=dist_id)
    except ClientError as exc:
        if client_error_code(exc) in (f"NoSuch{api.noun}", "404"):
            return None
        with aws_call(f"{api.kind} distribution {dist_id}", DISTRIBUTION_FIXES):
            raise
    dist = reply[api.noun]
    config = dist[api.config_key]
    managed = str(config.get("CallerReference", "")).startswith("mediapub-")
    return Described(_info(api, dist, reply.get("ETag", "")), managed, config)


def list_all(cloudfront: Any) -> tuple[list[Described], list[str]]:
    """Every distribution of both kinds, and notes for a kind the provider does not list."""
    found: list[Described] = []
    notes: list[str] = []
    for api in KINDS:
        try:
            with aws_call(f"listing {api.kind} distributions", DISTRIBUTION_FIXES):
                ids = [
                    summary["Id"]
                    for page in cloudfront.get_paginator(f"list_{api.snake}s").paginate()
                    for summary in page.get(f"{api.noun}List", {}).get("Items", []) or []
                ]
        except AWSError as exc:
            if api is STREAMING:
                notes.append(
                    f"Streaming distributions could not be listed ({exc.code}). {RTMP_RETIRED}"
                )
                continue
            raise
        for dist_id in ids:
            described = _describe(cloudfront, api, dist_id)
            if described is not None:
                found.append(described)
    return found, notes


def describe(cloudfront: Any, dist_id: str) -> Described:
    """The distribution `dist_id`, of either kind."""
    for api in KINDS:
        try:
            described = _describe(cloudfront, api, dist_id)
        except AWSError:
            if api is STREAMING:  # a provider without RTMP
                continue
            raise
        if described is not None:
            return described
    raise AWSError(
        f"No distribution {dist_id!r} (streaming or download). Fix: check the id with "
        "mediapub distributions list.",
        "NoSuchDistribution",
    )


def _api(kind: str) -> _Api:
    return STREAMING if kind == "streaming" else DOWNLOAD


def set_enabled(
    cloudfront: Any, dist_id: str, enabled: bool, described: Described | None = None
) -> DistributionInfo:
    """Enable or disable `dist_id` in one update (none when it already is); `described`
    saves looking it up again."""
    described = described or describe(cloudfront, dist_id)
    api = _api(described.info.kind)
    return converge(cloudfront, api, dist_id, {**described.config, "Enabled": enabled})


StatusCallback = Callable[[str, float], None]


def wait_deployed(
    cloudfront: Any,
    info: DistributionInfo,
    *,
    timeout: float = 25 * 60,
    interval: float = 20.0,
    on_status: StatusCallback | None = None,
    then: str = "",
) -> DistributionInfo:
    """Poll until the distribution reports `Deployed` (what boto3's waiters do, with a
    timeout of our own and a status callback); `WaitTimeout` when it does not in time."""
    api = _api(info.kind)
    started = time.monotonic()
    while True:
        current = _get(cloudfront, api, info.id)
        if current is None:
            raise AWSError(f"{info.kind} distribution {info.id} disappeared.", "NotFound")
        elapsed = time.monotonic() - started
        if on_status is not None:
            on_status(current.status, elapsed)
        if current.status == "Deployed":
            return current
        if elapsed >= timeout:
            waited = f" after {elapsed:.0f} s (timeout {timeout:g} s)" if timeout > 0 else ""
            raise WaitTimeout(
                f"{info.kind} distribution {info.id} is still {current.status}{waited}. "
                "CloudFront goes on deploying it; check later with: mediapub distributions "
                f"show {info.id}{then}."
            )
        time.sleep(min(interval, timeout - elapsed))


def delete(
    cloudfront: Any,
    dist_id: str,
    *,
    force: bool = False,
    timeout: float = 25 * 60,
    interval: float = 20.0,
    on_status: StatusCallback | None = None,
) -> DistributionInfo:
    """Delete safely: refuse what mediapub did not create (unless `force`), disable it if
    needed, wait until that is deployed, then delete with the current ETag."""
    from botocore.exceptions import ClientError

    described = describe(cloudfront, dist_id)
    info, api = described.info, _api(described.info.kind)
    if not described.managed and not force:
        raise AWSError(
            f"{api.kind} distribution {dist_id} was not created by mediapub (its "
            "CallerReference is not mediapub's), so it is not deleted. Fix: pass --force to "
            "delete it anyway.",
            "NotManaged",
        )
    if info.enabled:
        info = set_enabled(cloudfront, dist_id, False, described)
        log.info("disabled %s distribution %s before deleting it", api.kind, dist_id)
    info = wait_deployed(
        cloudfront,
        info,
        timeout=timeout,
        interval=interval,
        on_status=on_status,
        then=f"; once it is Deployed, delete it with: mediapub distributions delete {dist_id} "
        "(or wait for it: --wait)",
    )
    for attempt in (1, 2):
        with aws_call(f"{api.kind} distribution {dist_id}", DISTRIBUTION_FIXES):
            etag = getattr(cloudfront, f"get_{api.snake}_config")(Id=dist_id)["ETag"]
        try:
            getattr(cloudfront, f"delete_{api.snake}")(Id=dist_id, IfMatch=etag)
        except ClientError as exc:
            if client_error_code(exc) == "PreconditionFailed" and attempt == 1:
                continue
            with aws_call(f"deleting {api.kind} distribution {dist_id}", DISTRIBUTION_FIXES):
                raise
        break
    log.info("deleted %s distribution %s", api.kind, dist_id)
    return info
