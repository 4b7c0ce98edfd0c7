"""Signed URLs for private streaming, checked by a verifier written here from CloudFront's
rules: the RSA-SHA1 signature over the policy must validate with the public key, the policy
must name the right resource and expiry, and an expired or tampered URL is rejected."""

from __future__ import annotations

import base64
import json
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from pipeline.config import load_settings
from pipeline.errors import ConfigError
from pipeline.signing import UrlSigner, duration, flash_escaped, load_private_key

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class Rejected(Exception):
    pass


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


@dataclass
class Verified:
    resource: str
    expires: int
    policy: dict[str, Any]


def verify(signed: str, public_key: Any, now: datetime, source_ip: str = "") -> Verified:
    """What CloudFront does with a signed URL or stream name; `Rejected` when it would
    refuse it."""
    base, _, query = signed.partition("?")
    params = {k: v[0] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
    for name in ("Signature", "Key-Pair-Id"):
        if name not in params:
            raise Rejected(f"no {name}")
    if "Policy" in params:
        policy_bytes = _unb64(params["Policy"])
    elif "Expires" in params:
        policy_bytes = json.dumps(
            {
                "Statement": [
                    {
                        "Resource": base,
                        "Condition": {"DateLessThan": {"AWS:EpochTime": int(params["Expires"])}},
                    }
                ]
            },
            separators=(",", ":"),
        ).encode()
    else:
        raise Rejected("neither Expires nor Policy")
    try:
        public_key.verify(
            _unb64(params["Signature"]), policy_bytes, padding.PKCS1v15(), hashes.SHA1()
        )
    except InvalidSignature:
        raise Rejected("bad signature") from None
    policy = json.loads(policy_bytes)
    statement = policy["Statement"][0]
    resource = statement["Resource"]
    if not (resource == base or (resource.endswith("*") and base.startswith(resource[:-1]))):
        raise Rejected(f"policy is for {resource}, not {base}")
    condition = statement["Condition"]
    expires = int(condition["DateLessThan"]["AWS:EpochTime"])
    if now.timestamp() >= expires:
        raise Rejected("expired")
    starts = condition.get("DateGreaterThan", {}).get("AWS:EpochTime")
    if starts is not None and now.timestamp() < int(starts):
        raise Rejected("not valid yet")
    allowed = condition.get("IpAddress", {}).get("AWS:SourceIp")
    if allowed is not None:
        import ipaddress

        if ipaddress.ip_address(source_ip) not in ipaddress.ip_network(allowed):
            raise Rejected(f"{source_ip} is not in {allowed}")
    return Verified(resource, expires, policy)


def write_key(path: Path, bits: int = 2048) -> Path:
    """A new RSA private key in the PEM file `path`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return path


def private_settings(key_file: Path) -> dict[str, Any]:
    """Overrides for private streaming signed with `key_file`."""
    return {
        "streaming.private": True,
        "signing.key_pair_id": "APKATEST",
        "signing.private_key_file": str(key_file),
    }


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_key(tmp_path_factory.mktemp("keys") / "pk-APKATEST.pem")


@pytest.fixture(scope="module")
def public_key(key_file: Path) -> Any:
    return load_private_key(str(key_file)).public_key()


def signer(key_file: Path, **changes: Any) -> UrlSigner:
    values: dict[str, Any] = {
        "key_pair_id": "APKATEST",
        "private_key": load_private_key(str(key_file)),
        "expires_at": NOW + timedelta(hours=24),
    }
    values.update(changes)
    return UrlSigner(**values)


def test_canned_http_url_verifies_and_names_the_resource_and_expiry(
    key_file: Path, public_key: Any
) -> None:
    url = "https://d111.cloudfront.net/media/videos/a%20clip.mp4"
    signed = signer(key_file).sign(url)
    assert signed.startswith(url + "?Expires=")
    assert "Policy=" not in signed and signed.endswith("&Key-Pair-Id=APKATEST")
    checked = verify(signed, public_key, NOW)
    assert checked.resource == url
    assert checked.expires == int((NOW + timedelta(hours=24)).timestamp())


def test_expired_tampered_and_foreign_urls_are_rejected(key_file: Path, public_key: Any) -> None:
    url = "https://d111.cloudfront.net/media/clip.mp4"
    signed = signer(key_file).sign(url)
    with pytest.raises(Rejected, match="expired"):
        verify(signed, public_key, NOW + timedelta(hours=24, seconds=1))
    with pytest.raises(Rejected, match="bad signature"):
        verify(signed.replace("clip.mp4", "other.mp4"), public_key, NOW)
    past = signer(key_file, expires_at=NOW - timedelta(minutes=1)).sign(url)
    with pytest.raises(Rejected, match="expired"):
        verify(past, public_key, NOW)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(Rejected, match="bad signature"):
        verify(signed, other_key, NOW)


def test_custom_policy_for_an_ip_range_and_a_start_time(key_file: Path, public_key: Any) -> None:
    url = "https://d111.cloudfront.net/media/clip.mp4"
    starts = NOW + timedelta(hours=1)
    custom = signer(key_file, ip_range="192.0.2.0/24", starts_at=starts)
    assert custom.custom
    signed = custom.sign(url)
    assert "?Policy=" in signed and "Expires=" not in signed
    checked = verify(signed, public_key, starts + timedelta(minutes=1), source_ip="192.0.2.7")
    condition = checked.policy["Statement"][0]["Condition"]
    assert condition["IpAddress"] == {"AWS:SourceIp": "192.0.2.0/24"}
    assert condition["DateGreaterThan"] == {"AWS:EpochTime": int(starts.timestamp())}
    with pytest.raises(Rejected, match="not in"):
        verify(signed, public_key, starts + timedelta(minutes=1), source_ip="198.51.100.1")
    with pytest.raises(Rejected, match="not valid yet"):
        verify(signed, public_key, NOW, source_ip="192.0.2.7")


@pytest.mark.parametrize(
    ("stream", "resource"),
    [
        ("mp4:videos/a%20clip.mp4", "videos/a%20clip.mp4"),
        ("mp3:audio/tone", "audio/tone"),
        ("videos/bars", "videos/bars"),
    ],
)
def test_rtmp_signs_the_stream_name_without_its_prefix(
    key_file: Path, public_key: Any, stream: str, resource: str
) -> None:
    signed = signer(key_file).sign_stream(stream)
    prefix = stream[: len(stream) - len(resource)]
    assert signed.startswith(stream + "?Expires=")
    assert verify(signed[len(prefix) :], public_key, NOW).resource == resource
    # The prefix is outside the signature: signing it too would not verify.
    if prefix:
        with pytest.raises(Rejected):
            verify(prefix + "x" + signed[len(prefix) :], public_key, NOW)
    # Flash-era players get it escaped once more, and decode it back.
    escaped = flash_escaped(signed)
    assert "?" not in escaped and "&" not in escaped and escaped.startswith(prefix)
    assert urllib.parse.unquote(escaped) == signed


def test_signer_from_settings(key_file: Path, tmp_path: Path) -> None:
    settings = load_settings(
        cwd=tmp_path,
        env={},
        overrides={
            "streaming.private": True,
            "signing.key_pair_id": "APKATEST",
            "signing.private_key_file": str(key_file),
            "signing.expires": "90m",
        },
    )
    made = UrlSigner.from_settings(settings, now=NOW)
    assert made.expires_at == NOW + timedelta(minutes=90) and not made.custom
    assert UrlSigner.from_settings(settings, now=NOW, expires="7d").expires_at == NOW + timedelta(
        days=7
    )
    assert duration("30s") == timedelta(seconds=30)
    with pytest.raises(ConfigError, match=r"signing\.expires"):
        duration("soon")


def _private(tmp_path: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = {"streaming.private": True, "signing.key_pair_id": "APKATEST"}
    values.update(overrides)
    return load_settings(cwd=tmp_path, env={}, overrides=values)


def test_key_file_problems_are_named_with_their_fix(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"needs signing\.key_pair_id and signing\.private_key_file"
    ):
        load_settings(cwd=tmp_path, env={}, overrides={"streaming.private": True})
    with pytest.raises(ConfigError, match=r"does not exist\. Fix: point it at the PEM"):
        _private(tmp_path, **{"signing.private_key_file": "missing.pem"})
    with pytest.raises(ConfigError, match="cannot be read"):
        _private(tmp_path, **{"signing.private_key_file": str(tmp_path)})
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key\n")
    with pytest.raises(ConfigError, match="not an unencrypted PEM private key"):
        _private(tmp_path, **{"signing.private_key_file": str(junk)})
    ec_key = tmp_path / "ec.pem"
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ConfigError, match="not an RSA key"):
        _private(tmp_path, **{"signing.private_key_file": str(ec_key)})


def test_relative_key_file_is_found_beside_the_config(key_file: Path, tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "pk.pem").write_bytes(key_file.read_bytes())
    (tmp_path / "mediapub.toml").write_text(
        '[streaming]\nprivate = true\n[signing]\nkey_pair_id = "APKATEST"\n'
        'private_key_file = "keys/pk.pem"\n'
    )
    settings = load_settings(cwd=tmp_path, env={})
    assert settings.signing.private_key_file == str(tmp_path / "keys" / "pk.pem")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("signing.ip_range", "192.0.2.300/24", "IP range"),
        ("signing.start", "next tuesday", "ISO 8601"),
        ("signing.expires", "1 week", "duration"),
    ],
)
def test_signing_values_are_checked(tmp_path: Path, key: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(cwd=tmp_path, env={}, overrides={key: value})


# --- private streaming published on the embedded local stack ---------------------------------


def _anonymous_status(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_private_streaming_publish(
    make_context: Any, key_file: Path, public_key: Any, tmp_path: Path
) -> None:
    from pipeline import publisher

    from .conftest import SAMPLES

    # Published publicly first, then made private: the object already there turns private.
    public = make_context()
    publisher.publish(public, [SAMPLES / "clip.mp4"])
    ctx = make_context(**private_settings(key_file), **{"signing.expires": "2h"})
    ctx.store = public.store
    started = datetime.now(UTC)
    result = publisher.publish(ctx, [SAMPLES / "clip.mp4"])
    settings, s3, cloudfront = ctx.settings, ctx.s3, ctx.cloudfront
    bucket, prefix = settings.streaming.bucket, settings.streaming.prefix
    item = result.manifest["items"][0]

    # The object is not readable anonymously; crossdomain.xml still is.
    assert _anonymous_status(f"{ctx.endpoint_url}/{bucket}/{item['key']}") == 403
    assert _anonymous_status(f"{ctx.endpoint_url}/{bucket}/crossdomain.xml") == 200
    assert "media objects in s3://" in " ".join(result.actions)

    # The bucket grants the distributions' origin access identity, and not everyone.
    identity = ctx.store.get_infra("origin_identity")
    assert identity is not None
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    grants = {json.dumps(s["Principal"]): s["Resource"] for s in policy["Statement"]}
    principal = (
        f"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity {identity.resource_id}"
    )
    assert grants[json.dumps({"AWS": principal})] == f"arn:aws:s3:::{bucket}/{prefix}*"
    assert f"arn:aws:s3:::{bucket}/{prefix}*" not in [r for p, r in grants.items() if p == '"*"']
    cloudfront.get_cloud_front_origin_access_identity(Id=identity.resource_id)

    # The streaming distribution trusts the account's signers and reads through the identity.
    dist_id = result.manifest["streaming_distribution"]["id"]
    config = cloudfront.get_streaming_distribution_config(Id=dist_id)["StreamingDistributionConfig"]
    assert config["TrustedSigners"] == {"Enabled": True, "Quantity": 1, "Items": ["self"]}
    oai_path = f"origin-access-identity/cloudfront/{identity.resource_id}"
    assert config["S3Origin"]["OriginAccessIdentity"] == oai_path
    download = cloudfront.get_distribution_config(Id=result.manifest["download_distribution"]["id"])
    behaviours = download["DistributionConfig"]["CacheBehaviors"]["Items"]
    media = next(b for b in behaviours if b["PathPattern"] == f"{prefix}*")
    assert media["TrustedSigners"]["Items"] == ["self"]

    # Every rendered URL is signed, and verifies for the right resource and expiry.
    http = verify(item["http_url"], public_key, datetime.now(UTC))
    assert http.resource == item["http_url"].partition("?")[0]
    assert abs(http.expires - (started + timedelta(hours=2)).timestamp()) < 60
    streamer = result.manifest["streaming_distribution"]["streamer"]
    stream = item["rtmp_url"].removeprefix(streamer + "/")
    assert stream.startswith("mp4:") and "?Expires=" in stream
    assert verify(stream.removeprefix("mp4:"), public_key, datetime.now(UTC)).resource == (
        "media/clip.mp4"
    )
    assert item["expires_at"].endswith("Z")

    # The pages say when the links stop working.
    page = (settings.site_dir / item["page"]).read_text()
    assert "stop working at" in page and item["expires_at"] in page


@pytest.fixture(scope="module")
def short_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1024-bit key: nginx-rtmp (the local RTMP edge) reads at most 255 bytes of a stream
    name, and a name signed with a 2048-bit key is longer."""
    return write_key(tmp_path_factory.mktemp("keys") / "pk-short.pem", bits=1024)


def test_signed_urls_play_on_the_local_edges_and_unsigned_ones_do_not(
    stack: Any, make_context: Any, short_key_file: Path
) -> None:
    key_file = short_key_file
    import subprocess

    from pipeline import publisher
    from pipeline import verify as checks

    from .conftest import SAMPLES, need, need_edges

    need("ffprobe")
    need_edges(stack)
    ctx = make_context(**private_settings(key_file))
    result = publisher.publish(ctx, [SAMPLES / "clip.mp4", SAMPLES / "audio" / "tone.mp3"])
    # mediapub's own URL checks (publish --check) pass: signed URLs play.
    assert all(c.ok for c in checks.check_manifest(result.manifest)), [
        (c.url, c.detail) for c in checks.check_manifest(result.manifest) if not c.ok
    ]

    def plays(url: str) -> bool:
        done = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv", url],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        return done.returncode == 0 and "stream," in done.stdout

    for item in result.manifest["items"]:
        rtmp, http = item["rtmp_url"], item["http_url"]
        assert plays(rtmp), rtmp
        assert not plays(rtmp.partition("?")[0]), "unsigned RTMP must be refused"
        assert _anonymous_status(http) == 200
        assert _anonymous_status(http.partition("?")[0]) == 403
        tampered = http.replace("Expires=", "Expires=1")
        assert _anonymous_status(tampered) == 403
        # Signed for another object: refused.
        other = http.partition("?")[0] + "x?" + http.partition("?")[2]
        assert _anonymous_status(other) == 403

    # A URL signed with an expiry in the past is refused.
    expired = signer(key_file, expires_at=datetime.now(UTC) - timedelta(seconds=5))
    clip = result.manifest["items"][0]
    assert _anonymous_status(expired.sign(clip["http_url"].partition("?")[0])) == 403
    # The site pages themselves are public.
    assert _anonymous_status(result.manifest["index_url"]) == 200


def test_render_signs_pages_afresh(make_context: Any, key_file: Path) -> None:
    from pipeline import publisher, site

    from .conftest import SAMPLES

    ctx = make_context(**private_settings(key_file))
    first = publisher.publish(ctx, [SAMPLES / "clip.mp4"])
    item = first.manifest["items"][0]
    later = UrlSigner.from_settings(ctx.settings, now=datetime.now(UTC) + timedelta(days=3))
    info = site.SiteInfo.from_store(ctx.settings, ctx.store, ctx.endpoint_url, signer=later)
    manifest = publisher.render(ctx, info)
    again = manifest["items"][0]
    assert again["expires_at"] != item["expires_at"]
    assert again["http_url"] != item["http_url"]
    page = (ctx.settings.site_dir / again["page"]).read_text()
    index = (ctx.settings.site_dir / "index.html").read_text()
    assert again["expires_at"] in page and again["expires_at"] in index
    assert item["expires_at"] not in page
    stored = ctx.store.get_item(item["key"])
    assert stored is not None and stored.http_url == again["http_url"]


def test_private_streaming_turned_off_converges_back(make_context: Any, key_file: Path) -> None:
    from pipeline import publisher

    from .conftest import SAMPLES

    private = make_context(**private_settings(key_file))
    first = publisher.publish(private, [SAMPLES / "clip.mp4"])
    public = make_context()
    public.store = private.store
    result = publisher.publish(public, [SAMPLES / "clip.mp4"])
    assert (
        result.manifest["streaming_distribution"]["id"]
        == (first.manifest["streaming_distribution"]["id"])
    )
    item = result.manifest["items"][0]
    assert "Signature=" not in item["http_url"] and "Signature=" not in item["rtmp_url"]
    assert _anonymous_status(item["http_url"]) == 200
    bucket = public.settings.streaming.bucket
    assert _anonymous_status(f"{public.endpoint_url}/{bucket}/{item['key']}") == 200
    config = public.cloudfront.get_streaming_distribution_config(
        Id=result.manifest["streaming_distribution"]["id"]
    )["StreamingDistributionConfig"]
    assert config["TrustedSigners"]["Enabled"] is False
    assert config["S3Origin"]["OriginAccessIdentity"] == ""
    try:
        statements = json.loads(public.s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    except public.s3.exceptions.ClientError:
        statements = []
    assert not any("CloudFront Origin Access Identity" in json.dumps(s) for s in statements)
