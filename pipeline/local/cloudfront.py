"""CloudFront streaming (RTMP) distributions and local edge domains for the embedded moto stack.

moto 5.2.1 implements CloudFront *web* distributions but not the (deprecated) *streaming*
distribution API: boto3 gets a plain 404 for ``create_streaming_distribution``.  This module
adds that API in-process, without touching moto's files:

* :class:`LocalCloudFrontResponse` subclasses moto's ``CloudFrontResponse`` and implements the
  seven streaming operations.  Requests are parsed and responses serialised by moto's
  botocore-model-driven machinery (``automated_parameter_parsing`` and ``ActionResult``), so
  the XML shapes, headers (``ETag``, ``Location``) and error status codes are the ones boto3
  expects.
* :func:`install` points every route in ``moto.cloudfront.urls.url_paths`` at that subclass
  and adds the three ``streaming-distribution`` routes.  moto reads this dict when it builds
  the CloudFront Flask app of a server (on the first CloudFront request) and on every request
  under ``mock_aws()``, so both modes pick the routes up.
* Streaming distributions live in :class:`StreamingDistributionBackend` objects, one per
  account (and partition), in a module-level dict that :func:`reset` clears.  Each backend is
  also tied to moto's ``CloudFrontBackend`` of the same account: when moto resets its own
  state (``mock_aws()`` starting, ``POST /moto-api/reset``) the streaming distributions are
  dropped with it.
* An optional :class:`EdgeRegistry` (the local nginx edge) is asked for a ``host:port`` for
  every streaming and web distribution, which is reported as the distribution's DomainName so
  URLs built from it play locally.
"""

from __future__ import annotations

import copy
import logging
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol

from moto.cloudfront import urls as _moto_cloudfront_urls
from moto.cloudfront.responses import CloudFrontResponse
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult
from moto.moto_api import state_manager

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_STREAMING_CNAMES",
    "STREAMING_URL_PATHS",
    "CloudFrontError",
    "EdgeOrigin",
    "EdgeRegistry",
    "LocalCloudFrontResponse",
    "StreamingDistribution",
    "StreamingDistributionBackend",
    "configure",
    "get_streaming_backend",
    "install",
    "reset",
    "s3_bucket_from_domain_name",
]

API_VERSION: Final = "2020-05-31"
MAX_STREAMING_CNAMES: Final = 10
PRICE_CLASSES: Final = frozenset({"PriceClass_100", "PriceClass_200", "PriceClass_All"})
STREAMING_URL_PATHS: Final = (
    "{0}/" + API_VERSION + "/streaming-distribution$",
    "{0}/" + API_VERSION + "/streaming-distribution/(?P<distribution_id>[^/]+)$",
    "{0}/" + API_VERSION + "/streaming-distribution/(?P<distribution_id>[^/]+)/config$",
    "{0}/" + API_VERSION + "/origin-access-identity/cloudfront$",
    "{0}/" + API_VERSION + "/origin-access-identity/cloudfront/(?P<identity_id>[^/]+)$",
    "{0}/" + API_VERSION + "/origin-access-identity/cloudfront/(?P<identity_id>[^/]+)/config$",
)
_OAI_LOCATION_PREFIX: Final = (
    f"https://cloudfront.amazonaws.com/{API_VERSION}/origin-access-identity/cloudfront/"
)
_LOCATION_PREFIX: Final = f"https://cloudfront.amazonaws.com/{API_VERSION}/streaming-distribution/"
_DEFAULT_MAX_ITEMS: Final = 100
_WEB_MODEL: Final = "cloudfront::distribution"
# Attribute set on moto's Distribution objects: the time.monotonic() value it is Deployed from.
_WEB_DEPLOYED_AT: Final = "_mediapub_deployed_at"
# Attribute set on moto's CloudFrontBackend to detect that moto has reset it since.
_MOTO_BACKEND_MARKER: Final = "_mediapub_streaming_backend"

# Virtual-hosted-style S3 REST endpoints: bucket.s3.amazonaws.com,
# bucket.s3.<region>.amazonaws.com and the legacy bucket.s3-<region>.amazonaws.com.
_S3_VIRTUAL_HOST = re.compile(
    r"(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])"
    r"\.s3(?:[.\-](?P<region>[a-z]{2}(?:-[a-z]+)+-\d+))?"
    r"\.amazonaws\.com(?:\.cn)?"
)


# --------------------------------------------------------------------------------------------
# The edge hook
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EdgeOrigin:
    """One cache behaviour of a distribution, resolved to the S3 bucket it serves."""

    path_pattern: str  # "*" for the default behaviour, else the CloudFront PathPattern
    bucket: str  # S3 bucket name parsed from the origin DomainName
    origin_path: str  # the origin's OriginPath ("" usually)
    identity: str = ""  # the origin access identity the edge reads the bucket as, if any
    signed: bool = False  # trusted signers: only requests with a valid signature are served


class EdgeRegistry(Protocol):
    """The local edge (nginx) that serves distributions created on the local stack.

    ``assign`` is called on every create *and* update of a distribution, always with the same
    ``dist_id`` for one distribution, so an implementation can keep its port stable.
    ``release`` is called once when the distribution is deleted; it may also be called for an
    id that was never assigned (a web distribution created before the registry was
    installed) and must then do nothing.
    """

    def assign(
        self,
        kind: Literal["rtmp", "web"],
        dist_id: str,
        origins: Sequence[EdgeOrigin],
        default_root_object: str,
    ) -> str:
        """Serve ``origins`` for ``dist_id``; return the edge as ``"127.0.0.1:PORT"``."""
        ...

    def release(self, dist_id: str) -> None:
        """Stop serving ``dist_id``."""
        ...


@dataclass
class _Settings:
    registry: EdgeRegistry | None = None
    deploy_seconds: float = 0.0


_settings = _Settings()
_install_lock = threading.Lock()


def install(registry: EdgeRegistry | None = None, deploy_seconds: float = 0.0) -> None:
    """Route CloudFront in moto to :class:`LocalCloudFrontResponse`; set registry and delay.

    Idempotent.  Call it before the first CloudFront request reaches a
    ``ThreadedMotoServer`` (moto builds the server's CloudFront routes once, lazily);
    ``mock_aws()`` reads the routes on every request.  ``registry=None`` removes a registry
    set by an earlier call, so domain names go back to moto's defaults.
    """
    if deploy_seconds < 0:
        raise ValueError(f"deploy_seconds must be >= 0, got {deploy_seconds!r}")
    with _install_lock:
        url_paths: dict[str, Callable[..., Any]] = _moto_cloudfront_urls.url_paths
        handler = LocalCloudFrontResponse.dispatch
        for pattern in [*url_paths, *STREAMING_URL_PATHS]:
            url_paths[pattern] = handler
        _settings.registry = registry
        _settings.deploy_seconds = float(deploy_seconds)
        # Web distribution status is driven here (see _start_deploying), not by moto's clock.
        state_manager.set_transition(_WEB_MODEL, {"progression": "manual", "times": 2**31})
    logger.debug(
        "CloudFront streaming API installed in moto (registry=%r, deploy_seconds=%s)",
        registry,
        deploy_seconds,
    )


def configure(*, deploy_seconds: float | None = None) -> None:
    """Change settings after :func:`install`.

    ``deploy_seconds``: how long a created or updated distribution (streaming or web) reports
    ``InProgress`` before ``Deployed`` (0 means ``Deployed`` at once).  Applies to
    distributions created or updated from now on.
    """
    if deploy_seconds is not None:
        if deploy_seconds < 0:
            raise ValueError(f"deploy_seconds must be >= 0, got {deploy_seconds!r}")
        _settings.deploy_seconds = float(deploy_seconds)


def s3_bucket_from_domain_name(domain_name: str) -> str | None:
    """The bucket of a virtual-hosted-style S3 endpoint, or None for anything else.

    ``media.s3.amazonaws.com``, ``media.s3.eu-west-1.amazonaws.com`` and
    ``media.s3-eu-west-1.amazonaws.com`` give ``media``; path-style endpoints
    (``s3.amazonaws.com/media``), website endpoints and other hosts give None.
    """
    match = _S3_VIRTUAL_HOST.fullmatch(domain_name)
    if match is None or ".." in match["bucket"]:
        return None
    return match["bucket"]


# --------------------------------------------------------------------------------------------
# Errors (codes are botocore's modelled CloudFront error shapes)
# --------------------------------------------------------------------------------------------


class CloudFrontError(ServiceException):  # type: ignore[misc]
    """A CloudFront API error; moto serialises it with the model's HTTP status."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


def _invalid(message: str) -> CloudFrontError:
    return CloudFrontError("InvalidArgument", message)


def _no_such_streaming_distribution(dist_id: str) -> CloudFrontError:
    return CloudFrontError(
        "NoSuchStreamingDistribution",
        f"The specified streaming distribution does not exist: {dist_id}",
    )


def _check_if_match(if_match: str | None, etag: str) -> None:
    if not if_match:
        raise CloudFrontError(
            "InvalidIfMatchVersion",
            "The If-Match version is missing or not valid for the resource.",
        )
    if if_match != etag:
        raise CloudFrontError(
            "PreconditionFailed",
            f"The If-Match version {if_match!r} does not match the current version {etag!r}.",
        )


# --------------------------------------------------------------------------------------------
# Streaming distribution model and backend
# --------------------------------------------------------------------------------------------

_ID_ALPHABET: Final = string.ascii_uppercase + string.digits
_DOMAIN_ALPHABET: Final = string.ascii_lowercase + string.digits


def _new_id() -> str:
    """An id in CloudFront's style (also used for ETags): ``E`` and 13 upper-case alnums."""
    return "E" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(13))


def _default_domain_name() -> str:
    return "s" + "".join(secrets.choice(_DOMAIN_ALPHABET) for _ in range(13)) + ".cloudfront.net"


def _str(value: Any, name: str, *, required: bool = False) -> str:
    if value is None:
        if required:
            raise _invalid(f"The parameter {name} is required.")
        return ""
    if not isinstance(value, str):
        raise _invalid(f"The parameter {name} must be a string, got {value!r}.")
    return value


def _bool(value: Any, name: str, *, default: bool | None = None) -> bool:
    if value is None:
        if default is None:
            raise _invalid(f"The parameter {name} is required.")
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise _invalid(f"The parameter {name} must be true or false, got {value!r}.")


def _quantity_list(value: Any, name: str) -> list[str]:
    """Items of a ``{Quantity, Items}`` structure, checking that the two agree."""
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise _invalid(f"The parameter {name} must be a structure with Quantity and Items.")
    items = value.get("Items") or []
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise _invalid(f"The parameter {name}.Items must be a list of strings.")
    quantity = value.get("Quantity")
    if quantity is not None and int(quantity) != len(items):
        raise CloudFrontError(
            "InconsistentQuantities",
            f"{name}.Quantity is {quantity} but {name}.Items has {len(items)} element(s).",
        )
    return list(items)


def _quantity_shape(items: Sequence[Any], **extra: Any) -> dict[str, Any]:
    shape: dict[str, Any] = {**extra, "Quantity": len(items)}
    if items:
        shape["Items"] = list(items)
    return shape


@dataclass(frozen=True)
class _ValidConfig:
    config: dict[str, Any]  # botocore-shaped StreamingDistributionConfig with all members
    bucket: str
    aliases: tuple[str, ...]


def _validate_streaming_config(raw: Any) -> _ValidConfig:
    """Check a request's StreamingDistributionConfig; return it complete with defaults."""
    if not isinstance(raw, Mapping) or not raw:
        raise CloudFrontError(
            "MissingBody", "The request body StreamingDistributionConfig is missing."
        )
    caller_reference = _str(raw.get("CallerReference"), "CallerReference", required=True)
    if not caller_reference:
        raise _invalid("The parameter CallerReference must not be empty.")

    s3_origin = raw.get("S3Origin")
    if not isinstance(s3_origin, Mapping):
        raise _invalid("The parameter S3Origin is required.")
    domain_name = _str(s3_origin.get("DomainName"), "S3Origin.DomainName", required=True)
    bucket = s3_bucket_from_domain_name(domain_name)
    if bucket is None:
        raise _invalid(
            f"The parameter S3Origin DomainName {domain_name!r} is not a virtual-hosted-style "
            "S3 bucket endpoint (<bucket>.s3.amazonaws.com or <bucket>.s3.<region>.amazonaws.com)."
        )
    origin_access_identity = _str(
        s3_origin.get("OriginAccessIdentity"), "S3Origin.OriginAccessIdentity"
    )

    aliases = _quantity_list(raw.get("Aliases"), "Aliases")
    if len(aliases) > MAX_STREAMING_CNAMES:
        raise CloudFrontError(
            "TooManyStreamingDistributionCNAMEs",
            f"Your request contains {len(aliases)} CNAMEs; a streaming distribution allows "
            f"at most {MAX_STREAMING_CNAMES}.",
        )
    if len(set(aliases)) != len(aliases):
        raise _invalid(f"The parameter Aliases contains duplicates: {aliases!r}.")

    logging_raw = raw.get("Logging") or {}
    if not isinstance(logging_raw, Mapping):
        raise _invalid("The parameter Logging must be a structure.")
    logging_enabled = _bool(logging_raw.get("Enabled"), "Logging.Enabled", default=False)
    logging_bucket = _str(logging_raw.get("Bucket"), "Logging.Bucket")
    if logging_enabled and not logging_bucket:
        raise _invalid("The parameter Logging.Bucket is required when logging is enabled.")

    trusted_raw = raw.get("TrustedSigners")
    signers = _quantity_list(trusted_raw, "TrustedSigners")
    trusted_enabled = _bool(
        trusted_raw.get("Enabled") if isinstance(trusted_raw, Mapping) else None,
        "TrustedSigners.Enabled",
        default=False,
    )

    price_class = _str(raw.get("PriceClass"), "PriceClass") or "PriceClass_All"
    if price_class not in PRICE_CLASSES:
        raise _invalid(
            f"The parameter PriceClass {price_class!r} is not one of {sorted(PRICE_CLASSES)}."
        )

    config: dict[str, Any] = {
        "CallerReference": caller_reference,
        "S3Origin": {"DomainName": domain_name, "OriginAccessIdentity": origin_access_identity},
        "Aliases": _quantity_shape(aliases),
        "Comment": _str(raw.get("Comment"), "Comment"),
        "Logging": {
            "Enabled": logging_enabled,
            "Bucket": logging_bucket,
            "Prefix": _str(logging_raw.get("Prefix"), "Logging.Prefix"),
        },
        "TrustedSigners": _quantity_shape(signers, Enabled=trusted_enabled),
        "PriceClass": price_class,
        "Enabled": _bool(raw.get("Enabled"), "Enabled"),
    }
    return _ValidConfig(config=config, bucket=bucket, aliases=tuple(aliases))


@dataclass
class StreamingDistribution:
    """One streaming distribution; ``config`` is botocore's StreamingDistributionConfig."""

    id: str
    arn: str
    config: dict[str, Any]
    domain_name: str
    etag: str
    last_modified_time: datetime
    deployed_at: float  # time.monotonic() value from which Status is "Deployed"
    bucket: str  # the S3Origin's bucket

    @property
    def location(self) -> str:
        return _LOCATION_PREFIX + self.id

    @property
    def status(self) -> Literal["InProgress", "Deployed"]:
        return "Deployed" if time.monotonic() >= self.deployed_at else "InProgress"

    @property
    def enabled(self) -> bool:
        return bool(self.config["Enabled"])

    @property
    def aliases(self) -> list[str]:
        return list(self.config["Aliases"].get("Items", []))

    def to_shape(self) -> dict[str, Any]:
        """The StreamingDistribution output shape."""
        trusted = self.config["TrustedSigners"]
        signers = [
            {"AwsAccountNumber": number, "KeyPairIds": {"Quantity": 0}}
            for number in trusted.get("Items", [])
        ]
        return {
            "Id": self.id,
            "ARN": self.arn,
            "Status": self.status,
            "LastModifiedTime": self.last_modified_time,
            "DomainName": self.domain_name,
            "ActiveTrustedSigners": _quantity_shape(signers, Enabled=trusted["Enabled"]),
            "StreamingDistributionConfig": copy.deepcopy(self.config),
        }

    def to_summary(self) -> dict[str, Any]:
        """The StreamingDistributionSummary output shape (list items)."""
        config = copy.deepcopy(self.config)
        return {
            "Id": self.id,
            "ARN": self.arn,
            "Status": self.status,
            "LastModifiedTime": self.last_modified_time,
            "DomainName": self.domain_name,
            "S3Origin": config["S3Origin"],
            "Aliases": config["Aliases"],
            "TrustedSigners": config["TrustedSigners"],
            "Comment": config["Comment"],
            "PriceClass": config["PriceClass"],
            "Enabled": config["Enabled"],
        }


class StreamingDistributionBackend:
    """The streaming distributions of one account and partition, with CloudFront's rules.

    Thread-safe: ThreadedMotoServer serves requests concurrently.  Registry calls happen
    under the lock so that a distribution and its edge are always created and removed
    together.
    """

    def __init__(self, account_id: str, partition: str = "aws") -> None:
        self.account_id = account_id
        self.partition = partition
        self.distributions: dict[str, StreamingDistribution] = {}
        self.identities: dict[str, OriginAccessIdentity] = {}
        self._lock = threading.RLock()

    def _arn(self, dist_id: str) -> str:
        return (
            f"arn:{self.partition}:cloudfront::{self.account_id}:streaming-distribution/{dist_id}"
        )

    def _check_aliases_free(self, aliases: Sequence[str], own_id: str | None) -> None:
        for other in self.distributions.values():
            if other.id == own_id:
                continue
            taken = set(aliases) & set(other.aliases)
            if taken:
                raise CloudFrontError(
                    "CNAMEAlreadyExists",
                    f"One or more of the CNAMEs {sorted(taken)} you provided are already "
                    f"associated with streaming distribution {other.id}.",
                )

    def create(self, raw_config: Any) -> StreamingDistribution:
        valid = _validate_streaming_config(raw_config)
        with self._lock:
            reference = valid.config["CallerReference"]
            for other in self.distributions.values():
                if other.config["CallerReference"] == reference:
                    raise CloudFrontError(
                        "StreamingDistributionAlreadyExists",
                        "The caller reference that you are using to create a streaming "
                        f"distribution is associated with another distribution: {other.id}",
                    )
            self._check_aliases_free(valid.aliases, own_id=None)
            dist_id = _new_id()
            while dist_id in self.distributions:
                dist_id = _new_id()
            domain_name = _assign_rtmp_edge(dist_id, valid) or _default_domain_name()
            dist = StreamingDistribution(
                id=dist_id,
                arn=self._arn(dist_id),
                config=valid.config,
                domain_name=domain_name,
                etag=_new_id(),
                last_modified_time=datetime.now(UTC),
                deployed_at=time.monotonic() + _settings.deploy_seconds,
                bucket=valid.bucket,
            )
            self.distributions[dist_id] = dist
        logger.debug("created streaming distribution %s (%s)", dist_id, domain_name)
        return dist

    def get(self, dist_id: str) -> StreamingDistribution:
        with self._lock:
            dist = self.distributions.get(dist_id)
        if dist is None:
            raise _no_such_streaming_distribution(dist_id)
        return dist

    def list_distributions(
        self, marker: str = "", max_items: int = _DEFAULT_MAX_ITEMS
    ) -> tuple[list[StreamingDistribution], bool]:
        """Distributions after ``marker`` (an id; "" = from the start), at most ``max_items``.

        Returns the page and whether more follow.
        """
        with self._lock:
            ordered = list(self.distributions.values())
        start = 0
        if marker:
            ids = [dist.id for dist in ordered]
            if marker not in ids:
                raise _invalid(f"The parameter Marker {marker!r} is not a distribution id.")
            start = ids.index(marker) + 1
        page = ordered[start : start + max_items]
        return page, start + max_items < len(ordered)

    def update(self, dist_id: str, raw_config: Any, if_match: str | None) -> StreamingDistribution:
        with self._lock:
            dist = self.get(dist_id)
            _check_if_match(if_match, dist.etag)
            valid = _validate_streaming_config(raw_config)
            if valid.config["CallerReference"] != dist.config["CallerReference"]:
                raise CloudFrontError(
                    "IllegalUpdate",
                    "The CallerReference of a streaming distribution cannot be changed "
                    f"({dist.config['CallerReference']!r} -> {valid.config['CallerReference']!r}).",
                )
            self._check_aliases_free(valid.aliases, own_id=dist_id)
            domain_name = _assign_rtmp_edge(dist_id, valid) or dist.domain_name
            dist.config = valid.config
            dist.bucket = valid.bucket
            dist.domain_name = domain_name
            dist.etag = _new_id()
            dist.last_modified_time = datetime.now(UTC)
            dist.deployed_at = time.monotonic() + _settings.deploy_seconds
        logger.debug("updated streaming distribution %s", dist_id)
        return dist

    def delete(self, dist_id: str, if_match: str | None) -> StreamingDistribution:
        with self._lock:
            dist = self.get(dist_id)
            _check_if_match(if_match, dist.etag)
            if dist.enabled or dist.status != "Deployed":
                raise CloudFrontError(
                    "StreamingDistributionNotDisabled",
                    f"The streaming distribution {dist_id} must be disabled, and the change "
                    "deployed, before it is deleted.",
                )
            del self.distributions[dist_id]
            _release_edge(dist_id)
        logger.debug("deleted streaming distribution %s", dist_id)
        return dist

    # ---- origin access identities ----------------------------------------------------------

    def create_identity(self, raw_config: Any) -> OriginAccessIdentity:
        config = raw_config if isinstance(raw_config, Mapping) else {}
        reference = _str(config.get("CallerReference"), "CallerReference", required=True)
        comment = _str(config.get("Comment"), "Comment")
        with self._lock:
            for other in self.identities.values():
                if other.caller_reference == reference:
                    raise CloudFrontError(
                        "CloudFrontOriginAccessIdentityAlreadyExists",
                        "The caller reference is associated with origin access identity "
                        f"{other.id}.",
                    )
            identity = OriginAccessIdentity(
                id=_new_id(),
                s3_canonical_user_id=secrets.token_hex(48),
                caller_reference=reference,
                comment=comment,
                etag=_new_id(),
            )
            self.identities[identity.id] = identity
        return identity

    def get_identity(self, identity_id: str) -> OriginAccessIdentity:
        with self._lock:
            identity = self.identities.get(identity_id)
        if identity is None:
            raise CloudFrontError(
                "NoSuchCloudFrontOriginAccessIdentity",
                f"The specified origin access identity does not exist: {identity_id}",
            )
        return identity

    def delete_identity(self, identity_id: str, if_match: str | None) -> None:
        with self._lock:
            identity = self.get_identity(identity_id)
            _check_if_match(if_match, identity.etag)
            del self.identities[identity_id]


@dataclass
class OriginAccessIdentity:
    """A CloudFront origin access identity: the principal a distribution reads S3 as."""

    id: str
    s3_canonical_user_id: str
    caller_reference: str
    comment: str
    etag: str

    @property
    def location(self) -> str:
        return _OAI_LOCATION_PREFIX + self.id

    @property
    def config(self) -> dict[str, Any]:
        return {"CallerReference": self.caller_reference, "Comment": self.comment}

    def to_shape(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "S3CanonicalUserId": self.s3_canonical_user_id,
            "CloudFrontOriginAccessIdentityConfig": self.config,
        }


def _assign_rtmp_edge(dist_id: str, valid: _ValidConfig) -> str | None:
    registry = _settings.registry
    if registry is None:
        return None
    config = valid.config
    identity = str(config["S3Origin"].get("OriginAccessIdentity") or "")
    signed = bool(config["TrustedSigners"].get("Enabled"))
    origin = EdgeOrigin("*", valid.bucket, "", identity, signed)
    return registry.assign("rtmp", dist_id, [origin], "")


def _release_edge(dist_id: str) -> None:
    """Tell the registry; a failure is logged, not raised (the API change already happened)."""
    registry = _settings.registry
    if registry is None:
        return
    try:
        registry.release(dist_id)
    except Exception:
        logger.exception("edge registry failed to release distribution %s", dist_id)


# account id -> partition -> backend
_streaming_backends: dict[str, dict[str, StreamingDistributionBackend]] = {}
_backends_lock = threading.Lock()


def get_streaming_backend(
    account_id: str, partition: str = "aws", moto_backend: object | None = None
) -> StreamingDistributionBackend:
    """The streaming backend of an account, created on first use.

    With ``moto_backend`` (moto's CloudFrontBackend of the same account and partition) the
    streaming backend is replaced by an empty one if moto has reset that backend since.
    """
    with _backends_lock:
        per_partition = _streaming_backends.setdefault(account_id, {})
        backend = per_partition.get(partition)
        moto_was_reset = (
            backend is not None
            and moto_backend is not None
            and getattr(moto_backend, _MOTO_BACKEND_MARKER, None) is not backend
        )
        if backend is None or moto_was_reset:
            if backend is not None:
                logger.debug(
                    "moto CloudFront state of %s was reset; dropping %d streaming distribution(s)",
                    account_id,
                    len(backend.distributions),
                )
            backend = StreamingDistributionBackend(account_id, partition)
            per_partition[partition] = backend
        if moto_backend is not None:
            setattr(moto_backend, _MOTO_BACKEND_MARKER, backend)
        return backend


def reset() -> None:
    """Forget every streaming distribution (of every account) and its tags.

    The edge registry is not called; settings and installed routes are kept.
    """
    from moto.cloudfront.models import cloudfront_backends

    with _backends_lock:
        backends = [b for per in _streaming_backends.values() for b in per.values()]
        _streaming_backends.clear()
    for backend in backends:
        if not backend.distributions:
            continue
        moto_backend = cloudfront_backends[backend.account_id][backend.partition]
        for dist in backend.distributions.values():
            _drop_tags(moto_backend, dist.arn)


def _drop_tags(moto_backend: Any, arn: str) -> None:
    keys = [tag["Key"] for tag in moto_backend.list_tags_for_resource(resource=arn)["Tags"]]
    if keys:
        moto_backend.untag_resource(resource=arn, tag_keys=keys)


# --------------------------------------------------------------------------------------------
# Web distributions: edge origins from a DistributionConfig
# --------------------------------------------------------------------------------------------


def _web_edge_origins(config: Mapping[str, Any]) -> list[EdgeOrigin]:
    """Map the default and each ordered cache behaviour to its origin's bucket and path."""
    origins: dict[str, Mapping[str, Any]] = {}
    for origin in (config.get("Origins") or {}).get("Items") or []:
        origins[str(origin.get("Id"))] = origin
    behaviours: list[tuple[str, Mapping[str, Any]]] = [
        ("*", config.get("DefaultCacheBehavior") or {})
    ]
    for behaviour in (config.get("CacheBehaviors") or {}).get("Items") or []:
        behaviours.append((str(behaviour.get("PathPattern") or ""), behaviour))

    edge_origins = []
    for path_pattern, behaviour in behaviours:
        target = behaviour.get("TargetOriginId")
        origin = origins.get(str(target))
        if origin is None:
            raise CloudFrontError(
                "NoSuchOrigin",
                f"The cache behavior {path_pattern!r} targets origin {target!r}, which does not "
                "exist (origin groups cannot be served by the local edge).",
            )
        domain_name = str(origin.get("DomainName") or "")
        bucket = s3_bucket_from_domain_name(domain_name)
        if bucket is None:
            raise _invalid(
                f"The origin {target!r} DomainName {domain_name!r} is not a virtual-hosted-style "
                "S3 bucket endpoint; the local edge can only serve S3 buckets."
            )
        identity = str((origin.get("S3OriginConfig") or {}).get("OriginAccessIdentity") or "")
        signed = str((behaviour.get("TrustedSigners") or {}).get("Enabled")).lower() == "true"
        edge_origins.append(
            EdgeOrigin(path_pattern, bucket, str(origin.get("OriginPath") or ""), identity, signed)
        )
    return edge_origins


def _distribution_of(result: Any) -> Any:
    """The moto Distribution inside the ActionResult moto's create/update methods return."""
    payload = getattr(result, "result", None)
    dist = payload.get("Distribution") if isinstance(payload, Mapping) else None
    if dist is None or not hasattr(dist, "distribution_id"):
        raise RuntimeError(
            "moto's CloudFrontResponse returned an unexpected result; "
            "pipeline.local.cloudfront needs updating for this moto release"
        )
    return dist


def _start_deploying(dist: Any) -> None:
    """A web distribution just created or changed: ``InProgress`` for ``deploy_seconds``.

    Also keeps each S3 origin's ``S3OriginConfig`` (its origin access identity), which moto
    reads but leaves out of its replies."""
    for origin in (getattr(dist.distribution_config, "Origins", {}) or {}).get("Items") or []:
        if getattr(origin, "custom_origin", None) is None and hasattr(origin, "s3_access_identity"):
            origin.s3_origin_config = {"OriginAccessIdentity": origin.s3_access_identity}
    setattr(dist, _WEB_DEPLOYED_AT, time.monotonic() + _settings.deploy_seconds)
    _refresh_status(dist)


def _refresh_status(dist: Any) -> Any:
    deployed_at = getattr(dist, _WEB_DEPLOYED_AT, 0.0)
    dist.status = "Deployed" if time.monotonic() >= deployed_at else "InProgress"
    return dist


# --------------------------------------------------------------------------------------------
# The response class
# --------------------------------------------------------------------------------------------


class LocalCloudFrontResponse(CloudFrontResponse):  # type: ignore[misc]
    """moto's CloudFront responses plus streaming distributions and the edge hook.

    Streaming operations are implemented here against :class:`StreamingDistributionBackend`.

    The edge hook for *web* distributions overrides the four response methods
    (``create_distribution``, ``create_distribution_with_tags``, ``update_distribution``,
    ``delete_distribution``) and delegates to moto's implementation rather than wrapping
    moto's backend.  That keeps the change local to requests routed here (nothing in moto is
    monkeypatched) and depends on little of moto's internals: the edge origins are computed
    from the request's botocore-shaped DistributionConfig (read before moto turns it into its
    model objects), and of moto's result only the Distribution's ``distribution_id``,
    ``etag`` and ``domain_name`` attributes are used.  Without a registry the methods are
    moto's, unchanged.
    """

    # ---- routing ------------------------------------------------------------------------

    def _get_action(self) -> Any:
        # The URI matcher ignores the ?WithTags query flag (moto's parent class does the same
        # for CreateDistribution).
        action = super()._get_action()
        if action == "CreateStreamingDistribution" and "WithTags" in self.querystring:
            return "CreateStreamingDistributionWithTags"
        return action

    @property
    def streaming_backend(self) -> StreamingDistributionBackend:
        return get_streaming_backend(self.current_account, self.partition, self.backend)

    # ---- streaming distributions ----------------------------------------------------------

    def _streaming_result(self, dist: StreamingDistribution, *, location: bool) -> Any:
        result: dict[str, Any] = {"StreamingDistribution": dist.to_shape(), "ETag": dist.etag}
        if location:
            result["Location"] = dist.location
        return ActionResult(result)

    def create_streaming_distribution(self) -> Any:
        dist = self.streaming_backend.create(self._get_param("StreamingDistributionConfig"))
        return self._streaming_result(dist, location=True)

    def create_streaming_distribution_with_tags(self) -> Any:
        prefix = "StreamingDistributionConfigWithTags"
        tags = self._get_param(f"{prefix}.Tags.Items", []) or []
        dist = self.streaming_backend.create(
            self._get_param(f"{prefix}.StreamingDistributionConfig")
        )
        if tags:
            self.backend.tag_resource(resource=dist.arn, tags=tags)
        return self._streaming_result(dist, location=True)

    def get_streaming_distribution(self) -> Any:
        dist = self.streaming_backend.get(self._get_param("Id"))
        return self._streaming_result(dist, location=False)

    def get_streaming_distribution_config(self) -> Any:
        dist = self.streaming_backend.get(self._get_param("Id"))
        return ActionResult(
            {"StreamingDistributionConfig": copy.deepcopy(dist.config), "ETag": dist.etag}
        )

    def list_streaming_distributions(self) -> Any:
        marker = self._get_param("Marker") or ""
        max_items_param = self._get_param("MaxItems")
        try:
            max_items = int(max_items_param) if max_items_param else _DEFAULT_MAX_ITEMS
        except ValueError:
            raise _invalid(f"The parameter MaxItems {max_items_param!r} is not a number.") from None
        if max_items < 1:
            raise _invalid(f"The parameter MaxItems must be positive, got {max_items}.")
        page, truncated = self.streaming_backend.list_distributions(marker, max_items)
        listing: dict[str, Any] = {
            "Marker": marker,
            "MaxItems": max_items,
            "IsTruncated": truncated,
            "Quantity": len(page),
        }
        if page:
            listing["Items"] = [dist.to_summary() for dist in page]
        if truncated:
            listing["NextMarker"] = page[-1].id
        return ActionResult({"StreamingDistributionList": listing})

    def update_streaming_distribution(self) -> Any:
        dist = self.streaming_backend.update(
            self._get_param("Id"),
            self._get_param("StreamingDistributionConfig"),
            self._get_param("IfMatch"),
        )
        return self._streaming_result(dist, location=False)

    def delete_streaming_distribution(self) -> Any:
        dist = self.streaming_backend.delete(self._get_param("Id"), self._get_param("IfMatch"))
        _drop_tags(self.backend, dist.arn)
        return EmptyResult()

    # ---- origin access identities ----------------------------------------------------------

    def _identity_result(self, identity: OriginAccessIdentity, *, location: bool) -> Any:
        result: dict[str, Any] = {
            "CloudFrontOriginAccessIdentity": identity.to_shape(),
            "ETag": identity.etag,
        }
        if location:
            result["Location"] = identity.location
        return ActionResult(result)

    def create_cloud_front_origin_access_identity(self) -> Any:
        identity = self.streaming_backend.create_identity(
            self._get_param("CloudFrontOriginAccessIdentityConfig")
        )
        return self._identity_result(identity, location=True)

    def get_cloud_front_origin_access_identity(self) -> Any:
        identity = self.streaming_backend.get_identity(self._get_param("Id"))
        return self._identity_result(identity, location=False)

    def get_cloud_front_origin_access_identity_config(self) -> Any:
        identity = self.streaming_backend.get_identity(self._get_param("Id"))
        return ActionResult(
            {"CloudFrontOriginAccessIdentityConfig": identity.config, "ETag": identity.etag}
        )

    def list_cloud_front_origin_access_identities(self) -> Any:
        with self.streaming_backend._lock:
            identities = list(self.streaming_backend.identities.values())
        listing: dict[str, Any] = {
            "Marker": "",
            "MaxItems": _DEFAULT_MAX_ITEMS,
            "IsTruncated": False,
            "Quantity": len(identities),
        }
        if identities:
            listing["Items"] = [
                {"Id": i.id, "S3CanonicalUserId": i.s3_canonical_user_id, "Comment": i.comment}
                for i in identities
            ]
        return ActionResult({"CloudFrontOriginAccessIdentityList": listing})

    def delete_cloud_front_origin_access_identity(self) -> Any:
        self.streaming_backend.delete_identity(self._get_param("Id"), self._get_param("IfMatch"))
        return EmptyResult()

    # ---- web distributions: the edge hook -------------------------------------------------

    def list_distributions(self) -> Any:
        """moto's summaries carry only ids and domains; AWS's also carry the config fields
        (Origins, Comment, Enabled, Aliases, PriceClass...) that callers match on."""
        summaries = []
        for dist in self.backend.list_distributions():
            _refresh_status(dist)
            summary = {k: v for k, v in vars(dist.distribution_config).items() if k[0].isupper()}
            summary.update(
                Id=dist.distribution_id,
                ARN=dist.arn,
                Status=dist.status,
                LastModifiedTime=dist.last_modified_time,
                DomainName=dist.domain_name,
                AliasICPRecordals=[],
                Staging=False,
            )
            summaries.append(summary)
        listing = {
            "Marker": "",
            "MaxItems": 100,
            "IsTruncated": False,
            "Quantity": len(summaries),
            "Items": summaries or None,
        }
        return ActionResult({"DistributionList": listing})

    def get_distribution(self) -> Any:
        result = super().get_distribution()
        _refresh_status(_distribution_of(result))
        return result

    def _web_distribution(self) -> Any:
        dist, _ = self.backend.get_distribution(self._get_param("Id"))
        return _refresh_status(dist)

    def create_distribution(self) -> Any:
        return self._create_web(super().create_distribution, "DistributionConfig")

    def create_distribution_with_tags(self) -> Any:
        return self._create_web(
            super().create_distribution_with_tags,
            "DistributionConfigWithTags.DistributionConfig",
        )

    def _create_web(self, create: Callable[[], Any], config_param: str) -> Any:
        registry = _settings.registry
        config = self._get_param(config_param, {}) or {}
        origins = _web_edge_origins(config) if registry is not None else []
        default_root_object = str(config.get("DefaultRootObject") or "")
        result = create()
        dist = _distribution_of(result)
        _start_deploying(dist)
        if registry is None:
            return result
        try:
            dist.domain_name = registry.assign(
                "web", dist.distribution_id, origins, default_root_object
            )
        except Exception:
            # Leave no distribution without an edge behind; a retry can then succeed.
            self.backend.delete_distribution(dist.distribution_id, dist.etag)
            raise
        logger.debug("web distribution %s served at %s", dist.distribution_id, dist.domain_name)
        return result

    def update_distribution(self) -> Any:
        """CloudFront's rules moto leaves out: ``IfMatch`` must be the current ETag, each
        update gets a new ETag, and the change deploys for ``deploy_seconds``."""
        dist = self._web_distribution()
        _check_if_match(self._get_param("IfMatch"), dist.etag)
        registry = _settings.registry
        config = self._get_param("DistributionConfig", {}) or {}
        origins = _web_edge_origins(config) if registry is not None else []
        default_root_object = str(config.get("DefaultRootObject") or "")
        dist.etag = _new_id()
        result = super().update_distribution()
        dist = _distribution_of(result)
        _start_deploying(dist)
        if registry is not None:
            dist.domain_name = registry.assign(
                "web", dist.distribution_id, origins, default_root_object
            )
        return result

    def delete_distribution(self) -> Any:
        dist = self._web_distribution()
        _check_if_match(self._get_param("IfMatch"), dist.etag)
        enabled = str(getattr(dist.distribution_config, "Enabled", "")).lower() == "true"
        if enabled or dist.status != "Deployed":
            raise CloudFrontError(
                "DistributionNotDisabled",
                f"The distribution {dist.distribution_id} must be disabled, and the change "
                "deployed, before it is deleted.",
            )
        result = super().delete_distribution()
        _release_edge(str(self._get_param("Id")))
        return result
