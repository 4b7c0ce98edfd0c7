"""Signed URLs for private streaming: CloudFront's canned and custom policies.

A canned policy (the default) names one resource and an expiry. A custom policy is used when
`signing.ip_range` or `signing.start` is set. RTMP signs the stream name, not the URL: the
resource is the name without its `mp4:`/`mp3:` prefix, and the prefix is put back in front of
the signed name. Signatures are RSA-SHA1 over the policy, as CloudFront checks them.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.config import Settings, SigningSettings
from pipeline.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
STREAM_PREFIXES = ("mp4:", "mp3:")


def duration(text: str) -> timedelta:
    """`"90s"`, `"30m"`, `"24h"`, `"7d"` -> a timedelta."""
    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if not match:
        raise ConfigError(
            f'signing.expires: expected a duration like "90s", "30m", "24h" or "7d"; got '
            f'"{text}". Fix: write a number followed by s, m, h or d.'
        )
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def load_private_key(path: str) -> Any:
    """The RSA private key in the PEM file `path`; ConfigError naming the problem and fix.

    Parsed once per version of the file: the config check, the publish and every signed
    render of one process ask for the same key."""
    try:
        st = Path(path).stat()
    except OSError:
        return _parse_private_key(path, 0, 0)  # reports the problem
    return _parse_private_key(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _parse_private_key(path: str, mtime_ns: int, size: int) -> Any:
    """`load_private_key` for one version of the file (`mtime_ns`, `size` key the cache)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    where = f'signing.private_key_file: "{path}"'
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{where} does not exist. Fix: point it at the PEM private key of the CloudFront "
            "key pair (signing.key_pair_id)."
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{where} cannot be read ({exc.strerror}). Fix: make it readable by this user "
            f"(chmod 600, owned by the user running mediapub)."
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{where} is not an unencrypted PEM private key ({exc}). Fix: use the private "
            "key file CloudFront gave for the key pair, in PEM form without a passphrase "
            "(openssl rsa -in key.pem -out key-plain.pem)."
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(
            f"{where} holds a {type(key).__name__.removeprefix('_')} key, not an RSA key. "
            "CloudFront signs with RSA. Fix: use the RSA key of the CloudFront key pair "
            "(openssl genrsa -out key.pem 2048)."
        )
    return key


def load_public_key(path: str) -> Any:
    """The RSA public key in the PEM file `path`, which may hold the private key instead."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f'"{path}": cannot be read ({exc.strerror}). Fix the path.') from None
    if b"PUBLIC KEY" in data:
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise ConfigError(f'"{path}": not a PEM public key ({exc}).') from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise ConfigError(f'"{path}": not an RSA key. CloudFront signs with RSA.')
        return key
    return load_private_key(path).public_key()


@dataclass(frozen=True)
class UrlSigner:
    """Signs URLs and RTMP stream names with one key pair until `expires_at`."""

    key_pair_id: str
    private_key: Any
    expires_at: datetime
    starts_at: datetime | None = None
    ip_range: str = ""

    @classmethod
    def from_settings(
        cls, settings: Settings, now: datetime | None = None, expires: str = ""
    ) -> UrlSigner:
        signing: SigningSettings = settings.signing
        now = now or datetime.now(UTC)
        starts = _parse_start(signing.start) if signing.start else None
        return cls(
            key_pair_id=signing.key_pair_id,
            private_key=load_private_key(signing.private_key_file),
            expires_at=(now + duration(expires or signing.expires)).replace(microsecond=0),
            starts_at=starts,
            ip_range=signing.ip_range,
        )

    @property
    def custom(self) -> bool:
        """True when the policy is custom (an IP range or a start time), else canned."""
        return bool(self.ip_range or self.starts_at)

    def _rsa_sha1(self, message: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        signature: bytes = self.private_key.sign(message, padding.PKCS1v15(), hashes.SHA1())
        return signature

    def sign(self, resource: str) -> str:
        """`resource` with `?Expires=..&Signature=..&Key-Pair-Id=..` (canned) or
        `?Policy=..&Signature=..&Key-Pair-Id=..` (custom)."""
        from botocore.signers import CloudFrontSigner

        signer = CloudFrontSigner(self.key_pair_id, self._rsa_sha1)
        if not self.custom:
            url: str = signer.generate_presigned_url(resource, date_less_than=self.expires_at)
            return url
        policy = signer.build_policy(
            resource,
            self.expires_at,
            date_greater_than=self.starts_at,
            ip_address=self.ip_range or None,
        )
        signed: str = signer.generate_presigned_url(resource, policy=policy)
        return signed

    def sign_stream(self, stream: str) -> str:
        """A URL-encoded RTMP stream name (`mp4:videos/a%20b.mp4`), signed: the name without
        its prefix is the resource, and the prefix goes back in front."""
        prefix = next((p for p in STREAM_PREFIXES if stream.startswith(p)), "")
        return prefix + self.sign(stream[len(prefix) :])


def flash_escaped(signed_stream: str) -> str:
    """The signed stream name percent-escaped once more, as Flash-era players take it in a
    `file` parameter (`?`, `=`, `&` and `%` escaped; the `mp4:` prefix and `/` kept)."""
    return urllib.parse.quote(signed_stream, safe="/:")


def _parse_start(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f'signing.start: expected an ISO 8601 time like "2026-12-01T09:00:00Z"; got '
            f'"{text}". Fix: write the time in that form, or remove signing.start.'
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
