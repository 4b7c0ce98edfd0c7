"""A plain boto3 upload script, as its documentation suggests: one TransferManager with its
default configuration for all files, `public-read` and the content type as extra arguments.

Usage: python bench/boto3_put.py ENDPOINT BUCKET PREFIX FOLDER
"""

from __future__ import annotations

import argparse
import mimetypes
import sys
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("endpoint", "bucket", "prefix", "folder"):
        parser.add_argument(name)
    args = parser.parse_args()
    folder = Path(args.folder)
    s3 = boto3.client(
        "s3", endpoint_url=args.endpoint, config=Config(s3={"addressing_style": "path"})
    )
    with create_transfer_manager(s3, TransferConfig()) as manager:
        futures = [
            manager.upload(
                str(path),
                args.bucket,
                args.prefix + path.relative_to(folder).as_posix(),
                extra_args={
                    "ACL": "public-read",
                    "ContentType": mimetypes.guess_type(path.name)[0] or "binary/octet-stream",
                },
            )
            for path in sorted(p for p in folder.rglob("*") if p.is_file())
        ]
        for future in futures:
            future.result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
