"""The local edges' check of CloudFront signed URLs, for private streaming.

CloudFront serves a behaviour with trusted signers only to requests that carry a valid
signature: `Expires` (canned policy) or `Policy` (custom), `Signature` (RSA-SHA1 of the
policy, in CloudFront's base64) and `Key-Pair-Id` naming a key it trusts. The local nginx asks
this small HTTP service before it serves such a request: web edges through `auth_request`
(`GET /http` with the original URI), RTMP edges through nginx-rtmp's `on_play`
(`POST /rtmp` with the stream name and the play arguments). A 2xx answer lets the request
through; 403 refuses it.

Public keys are trusted explicitly (`trust`), as a CloudFront key pair is made in the AWS
account before anything can be signed with it.
"""

from __future__ import annotations

import base64
import http.server
import ipaddress
import json
import logging
import re
import threading
import time
import urllib.parse
from typing import Any

from pipeline.local.ports import LoopbackService

log = logging.getLogger(__name__)

RTMP_PREFIXES = ("mp4:", "mp3:")


def _b64(text: str) -> bytes:
    """CloudFront's URL-safe base64 (`-` `_` `~` for `+` `=` `/`) decoded."""
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


def _resource_matches(pattern: str, resource: str) -> bool:
    """A policy's Resource against the requested one: `*` matches any characters."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, resource, flags=re.DOTALL) is not None


class SignatureChecker:
    """CloudFront's signed-URL rules, with the public keys it has been told to trust."""

    def __init__(self) -> None:
        self._keys: dict[str, Any] = {}
        self._lock = threading.Lock()

    def trust(self, key_pair_id: str, public_key: Any) -> None:
        with self._lock:
            self._keys[key_pair_id] = public_key

    def problem(self, resource: str, params: dict[str, str], client_ip: str) -> str:
        """Why the request for `resource` with query `params` is refused, or "" when the
        signature lets it through."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        key_id, signature = params.get("Key-Pair-Id", ""), params.get("Signature", "")
        if not key_id or not signature:
            return "missing Signature or Key-Pair-Id"
        with self._lock:
            public_key = self._keys.get(key_id)
        if public_key is None:
            return f"key pair {key_id} is not trusted"
        if "Policy" in params:
            policy_bytes = _b64(params["Policy"])
        elif "Expires" in params and params["Expires"].isdigit():
            statement = {
                "Resource": resource,
                "Condition": {"DateLessThan": {"AWS:EpochTime": int(params["Expires"])}},
            }
            policy_bytes = json.dumps({"Statement": [statement]}, separators=(",", ":")).encode()
        else:
            return "missing Expires or Policy"
        try:
            public_key.verify(_b64(signature), policy_bytes, padding.PKCS1v15(), hashes.SHA1())
        except (InvalidSignature, ValueError):
            return "the signature does not match"
        try:
            statement = json.loads(policy_bytes)["Statement"][0]
            condition = statement["Condition"]
            expires = int(condition["DateLessThan"]["AWS:EpochTime"])
        except (ValueError, KeyError, IndexError, TypeError):
            return "the policy is malformed"
        if not _resource_matches(str(statement.get("Resource", "")), resource):
            return f"the policy is for {statement.get('Resource')}, not {resource}"
        now = time.time()
        if now >= expires:
            return "the URL has expired"
        starts = condition.get("DateGreaterThan", {}).get("AWS:EpochTime")
        if starts is not None and now < int(starts):
            return "the URL is not valid yet"
        allowed = condition.get("IpAddress", {}).get("AWS:SourceIp")
        if allowed is not None:
            try:
                inside = ipaddress.ip_address(client_ip) in ipaddress.ip_network(allowed, False)
            except ValueError:
                inside = False
            if not inside:
                return f"{client_ip} is outside {allowed}"
        return ""


class SignatureService(LoopbackService):
    """The checker served over HTTP on 127.0.0.1 for nginx."""

    thread_name = "mediapub-signatures"

    def __init__(self) -> None:
        super().__init__()
        self.checker = SignatureChecker()

    def start(self) -> SignatureService:
        super().start()
        return self

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        checker = self.checker

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                """nginx auth_request: the original request's URI, host and client address."""
                uri = self.headers.get("X-Original-URI", "")
                host = self.headers.get("X-Original-Host", "")
                path, _, query = uri.partition("?")
                params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
                self._answer(f"http://{host}{path}", params, self.headers.get("X-Real-IP", ""))

            def do_POST(self) -> None:
                """nginx-rtmp on_play: the stream name, and the play URL's arguments."""
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("latin-1")
                form = dict(urllib.parse.parse_qsl(body))
                name = form.get("name", "")
                for prefix in RTMP_PREFIXES:
                    name = name.removeprefix(prefix)
                self._answer(name, form, form.get("addr", ""))

            def _answer(self, resource: str, params: dict[str, str], client_ip: str) -> None:
                problem = checker.problem(resource, params, client_ip)
                if problem:
                    log.info("refused %s: %s", resource, problem)
                self.send_response(403 if problem else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("signature check: " + format, *args)

        return Handler
