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


def _streaming_info(
    dist: dict[str, Any], etag: str = "", created: bool = False
) -> DistributionInfo:
    config = dist.get("StreamingDistributionConfig", dist)
    return DistributionInfo(
        kind="streaming",
        id=dist["Id"],
        domain=dist["DomainName"],
        status=dist.get("Status", ""),
        enabled=bool(config.get("Enabled", dist.get("Enabled"))),
        etag=etag,
        cnames=list(config.get("Aliases", {}).get("Items", [])),
        price_class=config.get("PriceClass", ""),
        comment=config.get("Comment", ""),
        created=created,
    )


def get_streaming(cloudfront: Any, dist_id: str) -> DistributionInfo | None:
    from botocore.exceptions import ClientError

    try:
        reply = cloudfront.get_streaming_distribution(Id=dist_id)
    except ClientError as exc:
        if client_error_code(exc) in ("NoSuchStreamingDistribution", "404"):
            return None
        with aws_call(f"streaming distribution {dist_id}"):
            raise
    return _streaming_info(reply["StreamingDistribution"], reply.get("ETag", ""))


def find_streaming(cloudfront: Any, settings: Settings) -> DistributionInfo | None:
    """Discover mediapub's streaming distribution for the bucket by listing."""
    origin = origin_domain(settings.streaming.bucket)
    wanted_ref = caller_reference("streaming", settings.streaming.bucket)
    candidates = []
    with aws_call("listing streaming distributions"):
        for page in cloudfront.get_paginator("list_streaming_distributions").paginate():
            for summary in page.get("StreamingDistributionList", {}).get("Items", []):
                if summary["S3Origin"]["DomainName"] == origin:
                    candidates.append(summary)
    for summary in candidates:
        with aws_call(f"streaming distribution {summary['Id']}"):
            config = cloudfront.get_streaming_distribution_config(Id=summary["Id"])
        if config["StreamingDistributionConfig"]["CallerReference"] == wanted_ref:
            return get_streaming(cloudfront, summary["Id"])
    for summary in candidates:
        if summary.get("Comment") == settings.streaming.comment:
            return get_streaming(cloudfront, summary["Id"])
    return None


def ensure_streaming(cloudfront: Any, settings: Settings, known_id: str = "") -> DistributionInfo:
    """Find or create the streaming distribution; `RtmpRefused` when the provider says no."""
    from botocore.exceptions import ClientError

    if known_id:
        found = get_streaming(cloudfront, known_id)
        if found is not None:
            return found
    try:
        found = find_streaming(cloudfront, settings)
    except AWSError as exc:
        # Listing is refused by providers without RTMP as well (a 404 from an emulator).
        raise RtmpRefused(exc.code, str(exc)) from exc
    if found is not None:
        return found
    try:
        reply = cloudfront.create_streaming_distribution(
            StreamingDistributionConfig=streaming_config(settings)
        )
    except ClientError as exc:
        code = client_error_code(exc)
        if code == "StreamingDistributionAlreadyExists":
            existing = find_streaming(cloudfront, settings)
            if existing is not None:
                return existing
        if code in ("CNAMEAlreadyExists", "TooManyStreamingDistributionCNAMEs"):
            with aws_call(f"creating the streaming distribution for {settings.streaming.bucket}"):
                raise
        raise RtmpRefused(code, client_error_text(exc)) from exc
    dist = reply["StreamingDistribution"]
    log.info("created streaming distribution %s (%s)", dist["Id"], dist["DomainName"])
    return _streaming_info(dist, reply.get("ETag", ""), created=True)


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


def _download_info(dist: dict[str, Any], etag: str = "", created: bool = False) -> DistributionInfo:
    config = dist.get("DistributionConfig", dist)
    return DistributionInfo(
        kind="download",
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


def get_download(cloudfront: Any, dist_id: str) -> DistributionInfo | None:
    from botocore.exceptions import ClientError

    try:
        reply = cloudfront.get_distribution(Id=dist_id)
    except ClientError as exc:
        if client_error_code(exc) in ("NoSuchDistribution", "404"):
            return None
        with aws_call(f"download distribution {dist_id}"):
            raise
    return _download_info(reply["Distribution"], reply.get("ETag", ""))


def find_download(cloudfront: Any, settings: Settings) -> DistributionInfo | None:
    """Discover mediapub's download distribution for the player bucket by listing."""
    origin = origin_domain(settings.player.bucket)
    wanted_ref = caller_reference("download", settings.player.bucket)
    candidates = []
    with aws_call("listing download distributions"):
        for page in cloudfront.get_paginator("list_distributions").paginate():
            for summary in page.get("DistributionList", {}).get("Items", []) or []:
                domains = [o["DomainName"] for o in summary["Origins"].get("Items", [])]
                if origin in domains:
                    candidates.append(summary)
    for summary in candidates:
        with aws_call(f"download distribution {summary['Id']}"):
            config = cloudfront.get_distribution_config(Id=summary["Id"])
        if config["DistributionConfig"]["CallerReference"] == wanted_ref:
            return get_download(cloudfront, summary["Id"])
    for summary in candidates:
        if summary.get("Comment") == DOWNLOAD_COMMENT:
            return get_download(cloudfront, summary["Id"])
    return None


def ensure_download(cloudfront: Any, settings: Settings, known_id: str = "") -> DistributionInfo:
    """Find or create the download (web) distribution serving the player, site and media."""
    from botocore.exceptions import ClientError

    if known_id:
        found = get_download(cloudfront, known_id)
        if found is not None:
            return found
    found = find_download(cloudfront, settings)
    if found is not None:
        return found
    try:
        reply = cloudfront.create_distribution(DistributionConfig=download_config(settings))
    except ClientError as exc:
        if client_error_code(exc) == "DistributionAlreadyExists":
            existing = find_download(cloudfront, settings)
            if existing is not None:
                return existing
        with aws_call(f"creating the download distribution for {settings.player.bucket}"):
            raise
    dist = reply["Distribution"]
    log.info("created download distribution %s (%s)", dist["Id"], dist["DomainName"])
    return _download_info(dist, reply.get("ETag", ""), created=True)


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
