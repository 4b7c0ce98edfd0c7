"""The S3 server's ceiling: signed PUTs of whole files on keep-alive connections, in threads.

Nothing but the standard library, so start-up costs a few milliseconds: every object is one
SigV4-signed `PUT` (unsigned payload) with `x-amz-acl: public-read` and its content type.
Usage: python bench/raw_put.py ENDPOINT BUCKET PREFIX FOLDER [--connections 8]
Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (AWS_DEFAULT_REGION).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import mimetypes
import os
import queue
import sys
import threading
import time
import urllib.parse
from pathlib import Path

BLOCK = 1 << 20


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_headers(
    method: str,
    host: str,
    path: str,
    headers: dict[str, str],
    region: str,
    credentials: tuple[str, str] | None = None,
) -> dict[str, str]:
    """`headers` plus the SigV4 `Authorization`, `x-amz-date` and `x-amz-content-sha256`
    (credentials: the given pair, else AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)."""
    access, secret = credentials or (
        os.environ["AWS_ACCESS_KEY_ID"],
        os.environ["AWS_SECRET_ACCESS_KEY"],
    )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    day = stamp[:8]
    signed = {k.lower(): v.strip() for k, v in headers.items()}
    signed.update(host=host, **{"x-amz-date": stamp, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    names = ";".join(sorted(signed))
    canonical = "\n".join(
        [
            method,
            path,
            "",
            *(f"{k}:{signed[k]}" for k in sorted(signed)),
            "",
            names,
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + secret).encode(), day)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={names}, "
        f"Signature={signature}"
    )
    del signed["host"]
    return signed


def worker(endpoint: str, bucket: str, region: str, jobs: queue.Queue[tuple[Path, str]]) -> None:
    url = urllib.parse.urlsplit(endpoint)
    host = url.netloc
    connection = http.client.HTTPConnection(
        url.hostname or "", url.port, timeout=300, blocksize=BLOCK
    )
    while True:
        try:
            path, key = jobs.get_nowait()
        except queue.Empty:
            break
        resource = "/" + urllib.parse.quote(f"{bucket}/{key}")
        headers = {
            "Content-Type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            "Content-Length": str(path.stat().st_size),
            "x-amz-acl": "public-read",
        }
        with path.open("rb") as body:
            connection.request(
                "PUT", resource, body, signed_headers("PUT", host, resource, headers, region)
            )
            reply = connection.getresponse()
            reply.read()
        if reply.status != 200:
            raise SystemExit(f"PUT {resource}: HTTP {reply.status}")
    connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("endpoint", "bucket", "prefix", "folder"):
        parser.add_argument(name)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    folder = Path(args.folder)
    jobs: queue.Queue[tuple[Path, str]] = queue.Queue()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        jobs.put((path, args.prefix + path.relative_to(folder).as_posix()))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker(args.endpoint, args.bucket, region, jobs)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(args.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        print(f"raw_put: {errors[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
