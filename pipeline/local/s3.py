"""Bucket policies on the local S3 as AWS reads them for anonymous requests.

moto 5.2.1 evaluates a bucket policy without looking at its `Principal`, so a statement that
lets one CloudFront origin access identity read a prefix would let everyone read it. For the
access check of an unsigned request, :func:`install` makes moto consider only statements
whose principal is everyone (`"*"` or `{"AWS": "*"}`), which is what AWS does for an
anonymous caller. Requests with credentials are not affected.
"""

from __future__ import annotations

import json
import threading
from typing import Any

# What an edge sends to the local S3 when it reads a bucket as an origin access identity: moto
# takes a request with credentials as authorized (it does not check signatures), where AWS
# would check the bucket policy's grant to the identity.
IDENTITY_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=mediapub-local-edge/20200101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=0"
)

_lock = threading.Lock()
_installed = False


def _for_everyone(statement: dict[str, Any]) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if isinstance(principal, dict):
        aws = principal.get("AWS")
        return aws == "*" or (isinstance(aws, list) and "*" in aws)
    return False


def anonymous_policy(policy: bytes | str) -> str | None:
    """The statements of `policy` that apply to an anonymous caller, as a policy document;
    None when there are none."""
    document = json.loads(policy)
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    kept = [s for s in statements if _for_everyone(s)]
    if not kept:
        return None
    return json.dumps({**document, "Statement": kept})


def install() -> None:
    """Make moto's bucket policy check respect `Principal` for anonymous access. Idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        from moto.iam.access_control import IAMPolicy, PermissionResult
        from moto.s3.models import FakeBucket

        def get_permission(self: Any, action: str, resource: str) -> Any:
            if self.policy is None:
                return PermissionResult.NEUTRAL
            policy = anonymous_policy(self.policy)
            if policy is None:
                return PermissionResult.NEUTRAL
            return IAMPolicy(policy).is_action_permitted(action, resource)

        FakeBucket.get_permission = get_permission
        _installed = True
