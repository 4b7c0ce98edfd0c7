"""One object that holds what a command works with: settings, AWS clients, state, clock, progress.

Tests build a `Context` against the local stack instead of patching globals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.config import Settings
from pipeline.state import StateStore, open_store

if TYPE_CHECKING:
    from pipeline.local.stack import LocalStack

log = logging.getLogger(__name__)

# Credentials the embedded local stack accepts; it does not check signatures.
LOCAL_CREDENTIALS = {"aws_access_key_id": "mediapub-local", "aws_secret_access_key": "local"}


class Progress(Protocol):
    """Where the core reports progress; the CLI draws it, tests record it."""

    def step(self, message: str) -> None: ...
    def start(self, name: str, total: int) -> None: ...
    def advance(self, name: str, amount: int) -> None: ...
    def finish(self, name: str, ok: bool) -> None: ...


class NullProgress:
    """Progress that goes nowhere but the log."""

    def step(self, message: str) -> None:
        log.info("%s", message)

    def start(self, name: str, total: int) -> None:
        pass

    def advance(self, name: str, amount: int) -> None:
        pass

    def finish(self, name: str, ok: bool) -> None:
        pass


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    settings: Settings
    s3: Any
    cloudfront: Any
    store: StateStore
    endpoint_url: str | None
    progress: Progress = field(default_factory=NullProgress)
    clock: Callable[[], datetime] = utc_now
    local: LocalStack | None = None

    def now(self) -> str:
        """The current time as an ISO 8601 string in UTC, to the second."""
        return self.clock().replace(microsecond=0).isoformat().replace("+00:00", "Z")

    @property
    def is_local(self) -> bool:
        return self.local is not None

    def close(self) -> None:
        self.store.close()


def make_clients(
    region: str, endpoint_url: str | None, *, local: bool = False, concurrency: int = 8
) -> tuple[Any, Any]:
    """boto3 S3 and CloudFront clients for AWS, a compatible endpoint, or the local stack."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region,
        max_pool_connections=max(10, concurrency * 2),
        # A few quick retries for passing faults; longer outages are the caller's to retry
        # (the watcher backs off per file) rather than something to block a worker on.
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
        # Some S3-compatible servers reject the CRC checksums boto3 sends by default.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # Single PUTs carry a Content-MD5 that S3 checks. Over HTTPS botocore then leaves the
        # body out of the signature; over a plain-HTTP endpoint it would read and hash every
        # body once more before sending it.
        s3={
            "addressing_style": "path" if endpoint_url else "auto",
            "payload_signing_enabled": False,
        },
    )
    if local:
        session = boto3.session.Session(
            aws_access_key_id=LOCAL_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=LOCAL_CREDENTIALS["aws_secret_access_key"],
        )
    else:
        session = boto3.session.Session()
    s3 = session.client("s3", endpoint_url=endpoint_url or None, config=config)
    cloudfront = session.client("cloudfront", endpoint_url=endpoint_url or None, config=config)
    return s3, cloudfront


def build_context(
    settings: Settings,
    *,
    progress: Progress | None = None,
    local: LocalStack | None = None,
) -> Context:
    """A context for `settings`: on the local stack when one is given, else AWS/endpoint."""
    endpoint = local.endpoint_url if local is not None else (settings.endpoint_url or None)
    s3, cloudfront = make_clients(settings.region, endpoint, local=local is not None)
    return Context(
        settings=settings,
        s3=s3,
        cloudfront=cloudfront,
        store=open_store(settings.state_dir),
        endpoint_url=endpoint,
        progress=progress or NullProgress(),
        local=local,
    )
