"""CloudFront: find or create the streaming (RTMP) and download (web) distributions.

Identity across runs: each distribution has a deterministic `CallerReference` derived from its
bucket and kind. A distribution is found through the state store's record, then by listing
(same origin and a matching CallerReference or comment), and only then created. A reused
`CallerReference` (answered either with the original distribution or with
`...AlreadyExists`) leads back to the existing one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pipeline.config import Settings
from pipeline.errors import AWSError
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
    created: bool = False


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
        created=created,
    )


def _get(cloudfront: Any, api: _Api, dist_id: str) -> DistributionInfo | None:
    from botocore.exceptions import ClientError

    try:
        reply = getattr(cloudfront, f"get_{api.snake}")(Id=dist_id)
    except ClientError as exc:
        if client_error_code(exc) in (f"NoSuch{api.noun}", "404"):
            return None
        with aws_call(f"{api.kind} distribution {dist_id}"):
            raise
    return _info(api, reply[api.noun], reply.get("ETag", ""))


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


def _find_or_create(
    cloudfront: Any, api: _Api, config: dict[str, Any], bucket: str, known_id: str
) -> DistributionInfo:
    """The recorded distribution, else a listed one, else a new one. Raises ClientError from
    the create call, except a reused CallerReference, which leads to the existing one."""
    from botocore.exceptions import ClientError

    found = _get(cloudfront, api, known_id) if known_id else None
    found = found or _find(cloudfront, api, bucket, config["Comment"])
    if found is not None:
        return found
    try:
        reply = getattr(cloudfront, f"create_{api.snake}")(**{api.config_key: config})
    except ClientError as exc:
        existing = None
        if client_error_code(exc) == f"{api.noun}AlreadyExists":
            existing = _find(cloudfront, api, bucket, config["Comment"])
        if existing is None:
            raise
        return existing
    dist = reply[api.noun]
    log.info("created %s distribution %s (%s)", api.kind, dist["Id"], dist["DomainName"])
    return _info(api, dist, reply.get("ETag", ""), created=True)


# --- streaming -----------------------------------------------------------------------------


def streaming_config(settings: Settings) -> dict[str, Any]:
    """The StreamingDistributionConfig mediapub wants for the configured streaming bucket."""
    s = settings.streaming
    cnames = list(s.cnames)
    return {
        "CallerReference": caller_reference("streaming", s.bucket),
        "S3Origin": {"DomainName": origin_domain(s.bucket), "OriginAccessIdentity": ""},
        "Aliases": {"Quantity": len(cnames), **({"Items": cnames} if cnames else {})},
        "Comment": s.comment,
        "Logging": {
            "Enabled": s.logging.enabled,
            "Bucket": s.logging.bucket if s.logging.enabled else "",
            "Prefix": s.logging.prefix if s.logging.enabled else "",
        },
        "TrustedSigners": {"Enabled": False, "Quantity": 0},
        "PriceClass": s.price_class,
        "Enabled": s.enabled,
    }


def ensure_streaming(cloudfront: Any, settings: Settings, known_id: str = "") -> DistributionInfo:
    """Find or create the streaming distribution; `RtmpRefused` when the provider says no."""
    from botocore.exceptions import ClientError

    bucket = settings.streaming.bucket
    try:
        return _find_or_create(cloudfront, STREAMING, streaming_config(settings), bucket, known_id)
    except AWSError as exc:
        # Listing is refused by providers without RTMP as well (a 404 from an emulator).
        raise RtmpRefused(exc.code, str(exc)) from exc
    except ClientError as exc:
        code = client_error_code(exc)
        if code in ("CNAMEAlreadyExists", "TooManyStreamingDistributionCNAMEs"):
            with aws_call(f"creating the streaming distribution for {bucket}"):
                raise
        raise RtmpRefused(code, client_error_text(exc)) from exc


# --- download ------------------------------------------------------------------------------


def _s3_origin(origin_id: str, bucket: str) -> dict[str, Any]:
    return {
        "Id": origin_id,
        "DomainName": origin_domain(bucket),
        "OriginPath": "",
        "CustomHeaders": {"Quantity": 0},
        "S3OriginConfig": {"OriginAccessIdentity": ""},
    }


def _behaviour(origin_id: str, https: bool, pattern: str = "") -> dict[str, Any]:
    behaviour: dict[str, Any] = {
        "TargetOriginId": origin_id,
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


def download_config(settings: Settings) -> dict[str, Any]:
    """The web distribution: the player bucket by default, the media prefix from the
    streaming bucket (one origin when both are the same bucket)."""
    player, media = settings.player.bucket, settings.streaming.bucket
    origins = [_s3_origin("player", player)]
    behaviours = []
    if media != player:
        origins.append(_s3_origin("media", media))
        behaviours.append(
            _behaviour("media", settings.player.https, f"{settings.streaming.prefix}*")
        )
        behaviours.append(_behaviour("media", settings.player.https, "crossdomain.xml"))
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


def ensure_download(cloudfront: Any, settings: Settings, known_id: str = "") -> DistributionInfo:
    """Find or create the download (web) distribution serving the player, site and media."""
    from botocore.exceptions import ClientError

    bucket = settings.player.bucket
    try:
        return _find_or_create(cloudfront, DOWNLOAD, download_config(settings), bucket, known_id)
    except ClientError:
        with aws_call(f"creating the download distribution for {bucket}"):
            raise


def wait_deployed(
    cloudfront: Any, info: DistributionInfo, delay: int = 60, attempts: int = 25
) -> None:
    """Block until the distribution reports `Deployed` (boto3's waiters)."""
    name = (
        "streaming_distribution_deployed" if info.kind == "streaming" else "distribution_deployed"
    )
    with aws_call(f"waiting for {info.kind} distribution {info.id}"):
        cloudfront.get_waiter(name).wait(
            Id=info.id, WaiterConfig={"Delay": delay, "MaxAttempts": attempts}
        )
