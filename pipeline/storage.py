"""S3: buckets, public access, uploads with progress, crossdomain.xml, player and site files.

Every botocore `ClientError` is turned into an `AWSError` here, naming the bucket or key and
the fix; nothing above this module sees botocore exceptions.
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from pipeline.errors import AWSError, ConfigError

log = logging.getLogger(__name__)

HASH_METADATA = "sha256"
CROSSDOMAIN_KEY = "crossdomain.xml"
# Single PUT up to this size: one request per file; larger files go multipart.
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNK = 8 * 1024 * 1024

_FIXES = {
    "AccessDenied": "Check that the credentials in use may do this (s3:PutObject, "
    "s3:PutBucketPolicy, s3:CreateBucket) on this bucket.",
    "AccessControlListNotSupported": "The bucket does not allow ACLs (Object Ownership is "
    'BucketOwnerEnforced). Set streaming.public_access = "policy" to publish through a '
    "bucket policy instead.",
    "BucketAlreadyExists": "The name is taken by another account. Choose another bucket name.",
    "NoSuchBucket": "The bucket is gone. Run the publish again to create it.",
    "InvalidBucketName": "Use 3-63 lowercase letters, digits and hyphens.",
}


def client_error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    code = str(error.get("Code", "")) or str(
        response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
    )
    return code


def client_error_text(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")) or str(exc)


@contextmanager
def aws_call(what: str, fixes: dict[str, str] | None = None) -> Iterator[None]:
    """Turn botocore errors raised inside the block into `AWSError` naming `what`."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, S3UploadFailedError) as exc:
        # The transfer manager wraps the ClientError of the request that failed.
        cause = exc if isinstance(exc, ClientError) else exc.__cause__ or exc.__context__
        code = client_error_code(cause) if isinstance(cause, ClientError) else "upload"
        text = client_error_text(cause) if isinstance(cause, ClientError) else str(exc)
        fix = {**_FIXES, **(fixes or {})}.get(code, "")
        raise AWSError(f"{what}: {code}: {text}. {fix}".strip(), code) from exc
    except BotoCoreError as exc:
        raise AWSError(
            f"{what}: {exc}. Check the network, endpoint_url and credentials.", "connection"
        ) from exc


# --- buckets -----------------------------------------------------------------------------


def ensure_bucket(s3: Any, bucket: str, region: str) -> bool:
    """Make sure `bucket` exists and is ours; return True if it was created now."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        code = client_error_code(exc)
        if code in ("403", "AccessDenied", "Forbidden"):
            raise AWSError(
                f"bucket {bucket}: exists but these credentials may not use it (403). "
                "Choose another bucket name, or use credentials of the bucket's owner.",
                "AccessDenied",
            ) from exc
        if code not in ("404", "NoSuchBucket", "NotFound"):
            with aws_call(f"bucket {bucket}"):
                raise
    params: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    with aws_call(f"creating bucket {bucket} in {region}"):
        s3.create_bucket(**params)
    log.info("created bucket %s", bucket)
    return True


def list_keys(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    """Every key under `prefix` with its size: one request per thousand objects."""
    keys: dict[str, int] = {}
    with aws_call(f"listing s3://{bucket}/{prefix}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                keys[obj["Key"]] = int(obj["Size"])
    return keys


def stored_hash(s3: Any, bucket: str, key: str) -> tuple[int, str] | None:
    """(size, sha256 metadata) of an object, or None when it does not exist."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        if client_error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        with aws_call(f"s3://{bucket}/{key}"):
            raise
    return int(head["ContentLength"]), str(head.get("Metadata", {}).get(HASH_METADATA, ""))


# --- public access -------------------------------------------------------------------------


def public_access_mode(s3: Any, bucket: str, requested: str) -> str:
    """ "acl" or "policy": how objects of `bucket` are made public.

    `auto` asks the bucket: ACLs when Object Ownership allows them, else a bucket policy.
    """
    if requested != "auto":
        return requested
    from botocore.exceptions import ClientError

    try:
        controls = s3.get_bucket_ownership_controls(Bucket=bucket)
    except ClientError as exc:
        if "OwnershipControlsNotFound" in client_error_code(exc):
            return "acl"
        with aws_call(f"bucket {bucket} ownership controls"):
            raise
    rules = controls.get("OwnershipControls", {}).get("Rules", [])
    enforced = any(r.get("ObjectOwnership") == "BucketOwnerEnforced" for r in rules)
    return "policy" if enforced else "acl"


def public_read_statement(bucket: str, prefix: str) -> dict[str, Any]:
    """A policy statement that lets anyone GET objects under `prefix`, and nothing else."""
    sid = "mediapub-public-read-" + (prefix.strip("/").replace("/", "-") or "root")
    return {
        "Sid": sid[:100],
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
    }


def ensure_public_policy(s3: Any, bucket: str, prefixes: Iterable[str], manage_block: bool) -> None:
    """Grant public GET on `prefixes` through the bucket policy, keeping other statements."""
    if manage_block:
        _allow_public_policy(s3, bucket)
    fixes = {
        "AccessDenied": f"Block Public Access on bucket {bucket} forbids public policies. Turn "
        "off BlockPublicPolicy and RestrictPublicBuckets for it, or set "
        "streaming.manage_public_access_block = true to let mediapub do it."
    }
    _edit_policy(s3, bucket, [public_read_statement(bucket, p) for p in prefixes], (), fixes)


def _private_read_sid(bucket: str, prefix: str) -> str:
    return str(public_read_statement(bucket, prefix)["Sid"]).replace("public", "distribution")


def grant_private_read(s3: Any, bucket: str, prefix: str, principal: str) -> None:
    """Let the CloudFront origin access identity `principal` (and nobody else) GET the
    objects under `prefix`; take away a public grant of the same prefix."""
    statement = {
        "Sid": _private_read_sid(bucket, prefix),
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
    }
    _edit_policy(s3, bucket, [statement], [public_read_statement(bucket, prefix)["Sid"]])


def revoke_private_read(s3: Any, bucket: str, prefix: str) -> None:
    """Remove the origin access identity's grant on `prefix` (private streaming turned off)."""
    _edit_policy(s3, bucket, [], [_private_read_sid(bucket, prefix)])


def revoke_public_read(s3: Any, bucket: str, prefix: str) -> None:
    """Remove mediapub's public-read statement for `prefix`, if the policy has one."""
    _edit_policy(s3, bucket, [], [public_read_statement(bucket, prefix)["Sid"]])


def set_prefix_acl(s3: Any, bucket: str, prefix: str, public: bool) -> int:
    """Set the ACL of every object under `prefix` (when media turns private or public)."""
    acl = "public-read" if public else "private"
    keys = list_keys(s3, bucket, prefix)
    for key in keys:
        with aws_call(f"s3://{bucket}/{key} ACL"):
            s3.put_object_acl(Bucket=bucket, Key=key, ACL=acl)
    return len(keys)


def _edit_policy(
    s3: Any,
    bucket: str,
    add: list[dict[str, Any]],
    drop_sids: Iterable[str],
    fixes: dict[str, str] | None = None,
) -> None:
    """Put `add` into the bucket policy and take out `drop_sids`, keeping other statements;
    no call when the policy already is that way."""
    from botocore.exceptions import ClientError

    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        if client_error_code(exc) != "NoSuchBucketPolicy":
            with aws_call(f"bucket {bucket} policy"):
                raise
        policy = {"Version": "2012-10-17", "Statement": []}
    statements = policy.get("Statement", [])
    replaced = {s["Sid"] for s in add} | set(drop_sids)
    kept = [s for s in statements if s.get("Sid") not in replaced]
    if all(s in statements for s in add) and len(kept) + len(add) == len(statements):
        return
    policy["Statement"] = kept + add
    with aws_call(f"bucket {bucket} policy", fixes):
        if policy["Statement"]:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        else:
            s3.delete_bucket_policy(Bucket=bucket)


def _allow_public_policy(s3: Any, bucket: str) -> None:
    """Turn off BlockPublicPolicy and RestrictPublicBuckets on `bucket`, and nothing else."""
    from botocore.exceptions import ClientError

    try:
        reply = s3.get_public_access_block(Bucket=bucket)
    except ClientError as exc:
        if client_error_code(exc) == "NoSuchPublicAccessBlockConfiguration":
            return
        with aws_call(f"bucket {bucket} public access block"):
            raise
    config = dict(reply["PublicAccessBlockConfiguration"])
    if not (config.get("BlockPublicPolicy") or config.get("RestrictPublicBuckets")):
        return
    config.update(BlockPublicPolicy=False, RestrictPublicBuckets=False)
    with aws_call(f"bucket {bucket} public access block"):
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=config)
    log.warning(
        "turned off BlockPublicPolicy and RestrictPublicBuckets on bucket %s "
        "(streaming.manage_public_access_block = true) so that its public-read policy applies",
        bucket,
    )


# --- objects ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    path: Path
    content_type: str
    sha256: str
    public_acl: bool
    cache_control: str = ""
    content_md5: str = ""  # base64; S3 rejects a single PUT whose body does not match


def transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD,
        multipart_chunksize=MULTIPART_CHUNK,
        max_concurrency=8,
    )


def upload_file(s3: Any, upload: Upload, callback: Callable[[int], None] | None = None) -> None:
    """Upload one file with its content type and hash metadata (public when ACLs are used):
    one PUT below the multipart threshold, the transfer manager above it."""
    extra: dict[str, Any] = {
        "ContentType": upload.content_type,
        "Metadata": {HASH_METADATA: upload.sha256},
    }
    if upload.public_acl:
        extra["ACL"] = "public-read"
    if upload.cache_control:
        extra["CacheControl"] = upload.cache_control
    with aws_call(f"uploading {upload.path.name} to s3://{upload.bucket}/{upload.key}"):
        size = upload.path.stat().st_size
        if size < MULTIPART_THRESHOLD:
            # One request. S3 checks the body against Content-MD5, and a single PUT's ETag is
            # the MD5 of what was stored: when it matches, the upload is verified.
            md5 = {"ContentMD5": upload.content_md5} if upload.content_md5 else {}
            with upload.path.open("rb") as body:
                reply = s3.put_object(
                    Bucket=upload.bucket, Key=upload.key, Body=body, **extra, **md5
                )
            if callback is not None:
                callback(size)
            if upload.content_md5 and _etag_is_md5(reply.get("ETag", ""), upload.content_md5):
                return
        else:
            s3.upload_file(
                str(upload.path),
                upload.bucket,
                upload.key,
                ExtraArgs=extra,
                Callback=callback,
                Config=transfer_config(),
            )
    # Multipart uploads (and PUTs without an MD5) are checked afterwards.
    verify_upload(s3, upload, size)


def _etag_is_md5(etag: str, md5_base64: str) -> bool:
    try:
        return bytes.fromhex(etag.strip('"')) == base64.b64decode(md5_base64)
    except ValueError:
        return False


def put_bytes(
    s3: Any,
    bucket: str,
    key: str,
    body: bytes,
    content_type: str,
    public_acl: bool,
    cache_control: str = "no-cache",
) -> None:
    """Write a small generated object (crossdomain.xml, pages, manifest)."""
    params: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "Body": body,
        "ContentType": content_type,
        "CacheControl": cache_control,
    }
    if public_acl:
        params["ACL"] = "public-read"
    with aws_call(f"writing s3://{bucket}/{key}"):
        s3.put_object(**params)


def delete_object(s3: Any, bucket: str, key: str) -> None:
    with aws_call(f"deleting s3://{bucket}/{key}"):
        s3.delete_object(Bucket=bucket, Key=key)


def verify_upload(s3: Any, upload: Upload, size: int) -> None:
    """Raise unless the object has the size and hash that were uploaded."""
    found = stored_hash(s3, upload.bucket, upload.key)
    if found is None or found != (size, upload.sha256):
        raise AWSError(
            f"s3://{upload.bucket}/{upload.key}: after upload the object has "
            f"{found and found[0]} bytes and hash {found and found[1]!r}, expected {size} bytes "
            f"and {upload.sha256}. Publish again to retry.",
            "verify",
        )


def guess_type(path: Path) -> str:
    known = {".js": "text/javascript", ".css": "text/css", ".html": "text/html; charset=utf-8"}
    return (
        known.get(path.suffix.lower())
        or mimetypes.guess_type(path.name)[0]
        or ("application/octet-stream")
    )


# --- crossdomain.xml -----------------------------------------------------------------------


def crossdomain_xml(domains: Iterable[str]) -> bytes:
    """The Flash cross-domain policy allowing exactly `domains` (host names, no ports)."""
    lines = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE cross-domain-policy SYSTEM "http://www.adobe.com/xml/dtds/cross-domain-policy.dtd">',
        "<cross-domain-policy>",
        '  <site-control permitted-cross-domain-policies="master-only"/>',
    ]
    for domain in dict.fromkeys(domains):
        lines.append(f'  <allow-access-from domain={quoteattr(domain)} secure="false"/>')
    lines.append("</cross-domain-policy>")
    return ("\n".join(lines) + "\n").encode()


def player_source_files(path: str, builtin: Path) -> list[tuple[Path, str]]:
    """(file, key below player/) for the custom player at `path`, or the built-in player."""
    root = Path(path).expanduser() if path else builtin
    if root.is_file():
        return [(root, root.name)]
    if not root.is_dir():
        raise ConfigError(
            f'player.path: expected a file or folder with the media player; got "{path}", '
            "which does not exist. Fix the path, or remove player.path to use the built-in "
            "player."
        )
    return [
        (f, f.relative_to(root).as_posix())
        for f in sorted(root.rglob("*"))
        if f.is_file() and not any(p.startswith(".") for p in f.relative_to(root).parts)
    ]
