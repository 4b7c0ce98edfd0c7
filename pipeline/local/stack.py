"""The embedded local stack: moto's S3 + CloudFront (with streaming distributions) on
127.0.0.1, and nginx edges that make every distribution's URLs play on this machine."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from pipeline.errors import LocalStackError
from pipeline.local import cloudfront, s3
from pipeline.local.edges import NginxEdges
from pipeline.local.mp3 import Mp3Origin
from pipeline.local.ports import free_port, port_is_free, wait_for_port
from pipeline.local.signatures import SignatureService

log = logging.getLogger(__name__)

RTMP_MISSING = (
    "nginx with the RTMP module is not installed, so RTMP URLs will not play on this "
    "machine (HTTP URLs do when nginx is present). Install it with: "
    "apt-get install nginx libnginx-mod-rtmp"
)
HTTP_MISSING = (
    "nginx is not installed, so the local download distribution's URLs will not play. "
    "Install it with: apt-get install nginx libnginx-mod-rtmp"
)


class LocalStack:
    """Start with `with LocalStack() as stack:`; `stack.endpoint_url` is the API endpoint."""

    def __init__(self, port: int | None = None, deploy_seconds: float = 0.0) -> None:
        self.port = port
        self.deploy_seconds = deploy_seconds
        self.endpoint_url = ""
        self.workdir: Path | None = None
        self.edges: NginxEdges | None = None
        self._server: Any = None
        self.mp3: Mp3Origin | None = None
        self.signatures: SignatureService | None = None

    @property
    def rtmp_available(self) -> bool:
        return bool(self.edges and self.edges.rtmp_available)

    @property
    def http_available(self) -> bool:
        return bool(self.edges and self.edges.http_available)

    def warnings(self) -> list[str]:
        """What the user must know about this stack (said once, by the caller)."""
        if not self.http_available:
            return [HTTP_MISSING]
        if not self.rtmp_available:
            return [RTMP_MISSING]
        return []

    def start(self) -> LocalStack:
        from moto.server import ThreadedMotoServer

        port = self.port or free_port()
        if not port_is_free(port):
            raise LocalStackError(
                f"port {port} on 127.0.0.1 is already in use, so the local stack cannot start "
                "there. Stop whatever uses it, or choose another port (--port), or leave the "
                "port out to pick a free one."
            )
        self.workdir = Path(tempfile.mkdtemp(prefix="mediapub-local-"))
        self.endpoint_url = f"http://127.0.0.1:{port}"
        try:
            self.mp3 = Mp3Origin(self.endpoint_url).start()
            self.signatures = SignatureService().start()
            self.edges = NginxEdges(
                self.workdir / "edges",
                self.endpoint_url,
                fallback_play=[self.mp3.url],
                signature_check=self.signatures.url,
            )
            self.edges.start()
            cloudfront.install(self.edges, deploy_seconds=self.deploy_seconds)
            s3.install()
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            self._server.start()
            wait_for_port(port, timeout=15)
            _reset_moto(self.endpoint_url)
        except BaseException:
            self.stop()
            raise
        log.info("local stack at %s (workdir %s)", self.endpoint_url, self.workdir)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        cloudfront.install(None)
        cloudfront.reset()
        if self.edges is not None:
            self.edges.stop()
            self.edges = None
        if self.mp3 is not None:
            self.mp3.stop()
            self.mp3 = None
        if self.signatures is not None:
            self.signatures.stop()
            self.signatures = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def trust_signing_key(self, key_pair_id: str, public_key: Any) -> None:
        """Let the edges accept URLs signed for `key_pair_id` (on AWS: creating the
        CloudFront key pair with this public key)."""
        if self.signatures is None:
            raise LocalStackError("The local stack is not running.")
        self.signatures.checker.trust(key_pair_id, public_key)

    def config_lines(self) -> str:
        """The mediapub.toml lines that point another command at this stack."""
        return f'target = "aws"\nendpoint_url = "{self.endpoint_url}"\n'

    @staticmethod
    def credential_lines() -> str:
        """Shell lines with credentials the stack accepts (it does not check signatures)."""
        from pipeline.context import LOCAL_CREDENTIALS

        return (
            f"export AWS_ACCESS_KEY_ID={LOCAL_CREDENTIALS['aws_access_key_id']} "
            f"AWS_SECRET_ACCESS_KEY={LOCAL_CREDENTIALS['aws_secret_access_key']}\n"
        )


def _reset_moto(endpoint_url: str) -> None:
    """Start from empty S3 and CloudFront state (moto keeps it per process)."""
    import urllib.request

    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
