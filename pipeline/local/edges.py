"""Local CloudFront edges: one nginx child process serving every distribution on 127.0.0.1.

Each streaming (RTMP) distribution gets an RTMP port whose `cfx/st` application plays files
fetched over HTTP from the S3 origin, so `rtmp://127.0.0.1:PORT/cfx/st/mp4:media/clip.mp4`
works as it did on CloudFront. Each web (download) distribution gets an HTTP port that proxies
to its S3 origins, choosing the origin by CloudFront path pattern.

nginx runs in the foreground of its own process group, with every path (config, pid, logs,
temporary files) inside `workdir`. Changes are applied with a config test and SIGHUP; a small
control server in the same config reports the configuration generation, so a reload counts as
done only once workers with the new configuration answer.
"""

from __future__ import annotations

import atexit
import contextlib
import grp
import http.client
import logging
import os
import pwd
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import quote, urlsplit

from pipeline.edgeconfig import DEBIAN_RTMP_MODULE, RtmpServer, nginx_quote, render_rtmp_block
from pipeline.errors import LocalStackError
from pipeline.local.cloudfront import EdgeOrigin
from pipeline.local.mp3 import IDENTITY_PATH
from pipeline.local.ports import LOOPBACK, free_port, port_is_free, wait_for_port
from pipeline.local.s3 import IDENTITY_AUTHORIZATION
from pipeline.urls import RTMP_APPLICATION

__all__ = [
    "EDGE_HEADER_VALUE",
    "INSTALL_HINT",
    "RTMP_APPLICATION",
    "EdgeKind",
    "EdgeOrigin",
    "NginxEdges",
    "find_nginx",
    "find_rtmp_module",
]

log = logging.getLogger(__name__)

EdgeKind = Literal["rtmp", "web"]

EDGE_HEADER_VALUE = "mediapub-local"
"""Value of the `X-Edge` response header every local web edge adds."""

INSTALL_HINT = "apt-get install nginx libnginx-mod-rtmp"

_NGINX_CANDIDATES = (
    Path("/usr/sbin/nginx"),
    Path("/usr/local/sbin/nginx"),
    Path("/usr/local/nginx/sbin/nginx"),
    Path("/opt/homebrew/bin/nginx"),
)
_RTMP_MODULE_NAME = DEBIAN_RTMP_MODULE.name
_RTMP_MODULE_CANDIDATES = (
    DEBIAN_RTMP_MODULE,
    Path("/usr/lib64/nginx/modules") / _RTMP_MODULE_NAME,
    Path("/usr/share/nginx/modules") / _RTMP_MODULE_NAME,
    Path("/usr/local/nginx/modules") / _RTMP_MODULE_NAME,
    Path("/usr/local/lib/nginx/modules") / _RTMP_MODULE_NAME,
)

_GENERATION_PATH = "/mediapub-edge/generation"
_ORIGIN_PATH = "/mediapub-edge/origin"
_SIGNED_PATH = "/mediapub-edge/signed"

_START_TIMEOUT = 15.0
_RELOAD_TIMEOUT = 15.0
_PORT_TIMEOUT = 10.0
_RELEASE_TIMEOUT = 5.0
_QUIT_TIMEOUT = 8.0  # > worker_shutdown_timeout, which bounds a graceful stop
_TERM_TIMEOUT = 3.0
_CRASH_LOOP = 3
_URI_SAFE = "/-._~"
_COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


def find_nginx() -> str | None:
    """Path of the nginx binary: `nginx` on PATH, else the usual sbin locations."""
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in _NGINX_CANDIDATES:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_rtmp_module() -> Path | None:
    """Path of nginx-rtmp's dynamic module (`ngx_rtmp_module.so`), if it is installed."""
    for candidate in _RTMP_MODULE_CANDIDATES:
        if candidate.is_file():
            return candidate
    dpkg = shutil.which("dpkg")
    if dpkg is None:
        return None
    try:
        listing = subprocess.run(
            [dpkg, "-L", "libnginx-mod-rtmp"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in listing.stdout.splitlines():
        path = Path(line.strip())
        if path.name == _RTMP_MODULE_NAME and path.is_file():
            return path
    return None


@dataclass(frozen=True)
class _Edge:
    kind: EdgeKind
    port: int
    origins: tuple[EdgeOrigin, ...]
    default_root_object: str


def _quote(value: str) -> str:
    """One nginx config token in double quotes."""
    try:
        return nginx_quote(value)
    except ValueError as exc:
        raise LocalStackError(str(exc)) from None


def _comment(value: str) -> str:
    return _COMMENT_UNSAFE.sub("?", value)


def _is_default_pattern(pattern: str) -> bool:
    return pattern.strip().lstrip("/") in ("*", "")


def _pattern_regex(pattern: str) -> str:
    """Regex (PCRE and Python alike) for a CloudFront PathPattern, matched against `/path`."""
    body = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char)
        for char in pattern.strip().lstrip("/")
    )
    return f"^/{body}$"


def _routes(origins: Sequence[EdgeOrigin]) -> tuple[list[EdgeOrigin], EdgeOrigin | None]:
    """Non-default origins, longest pattern first (ties keep their order), and the default."""
    default: EdgeOrigin | None = None
    patterned: list[EdgeOrigin] = []
    seen: set[str] = set()
    for origin in origins:
        if _is_default_pattern(origin.path_pattern):
            default = default or origin
            continue
        key = origin.path_pattern.strip().lstrip("/")
        if key not in seen:
            seen.add(key)
            patterned.append(origin)
    patterned.sort(key=lambda origin: len(origin.path_pattern.strip().lstrip("/")), reverse=True)
    return patterned, default


def _route(origins: Sequence[EdgeOrigin], path: str) -> EdgeOrigin | None:
    """The origin that serves the decoded request `path` (starting with `/`)."""
    patterned, default = _routes(origins)
    for origin in patterned:
        if re.fullmatch(_pattern_regex(origin.path_pattern), path, flags=re.DOTALL):
            return origin
    return default


def _origin_prefix(origin: EdgeOrigin) -> str:
    """`/<bucket><origin_path>` percent-encoded, without a trailing slash."""
    origin_path = origin.origin_path.strip().strip("/")
    prefix = "/" + origin.bucket.strip("/")
    if origin_path:
        prefix += "/" + origin_path
    return quote(prefix, safe=_URI_SAFE)


def _alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def _old_workers_gone(master: int) -> bool:
    """Whether `master` has at most one worker that still accepts connections.

    A worker that received the master's SIGQUIT retitles itself "worker process is shutting
    down" as it closes its listening sockets. With `worker_processes 1`, one accepting worker
    left after a reload is the new one. Without /proc this cannot be checked: assume so.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    accepting = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # The fields after "(comm)" are: state ppid ...
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            if ppid != master:
                continue
            title = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if title.startswith(b"nginx: worker process") and b"shutting down" not in title:
            accepting += 1
    return accepting <= 1


def _die_with_parent() -> None:
    """In the nginx child before exec: SIGQUIT (graceful stop) when mediapub's process dies,
    even by SIGKILL, so no edge outlives the stack that owns it (Linux only)."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGQUIT))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class NginxEdges:
    """The local CloudFront edges: RTMP and HTTP servers of one nginx child process.

    Thread-safe: `assign` and `release` are called from moto's server thread.
    """

    def __init__(
        self,
        workdir: Path,
        s3_endpoint: str,
        nginx: str | None = None,
        rtmp_module: Path | None = None,
        fallback_play: Sequence[str] = (),
        signature_check: str = "",
    ) -> None:
        """`fallback_play`: HTTP play locations nginx-rtmp asks after S3 (see local/mp3.py).
        `signature_check`: the URL of the signed-URL check (local/signatures.py) that edges
        with trusted signers ask before serving."""
        endpoint = urlsplit(s3_endpoint)
        if endpoint.scheme != "http" or not endpoint.netloc:
            raise LocalStackError(
                f"The local S3 endpoint must look like http://127.0.0.1:PORT, not {s3_endpoint!r}."
            )
        self._workdir = Path(workdir).resolve()
        self._s3_netloc = endpoint.netloc
        self._fallback_play = [u.rstrip("/") for u in fallback_play]
        self._signature_check = signature_check.rstrip("/")
        self._nginx = self._executable(nginx) if nginx is not None else find_nginx()
        module = rtmp_module if rtmp_module is not None else find_rtmp_module()
        self._rtmp_module = module if module is not None and module.is_file() else None
        self._lock = threading.RLock()
        self._edges: dict[str, _Edge] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._control_port = 0
        self._generation = 0
        self._warned: set[EdgeKind] = set()

    # -- public API ---------------------------------------------------------------------------

    @property
    def http_available(self) -> bool:
        """nginx is installed, so web distributions are served."""
        return self._nginx is not None

    @property
    def rtmp_available(self) -> bool:
        """nginx and its RTMP module are installed, so streaming distributions are served."""
        return self._nginx is not None and self._rtmp_module is not None

    @property
    def running(self) -> bool:
        with self._lock:
            return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the nginx master while it runs."""
        with self._lock:
            return self._process.pid if self._process is not None else None

    @property
    def config_path(self) -> Path:
        return self._workdir / "nginx.conf"

    def start(self) -> None:
        """Start nginx with the current edges (possibly none); a no-op when already running."""
        with self._lock:
            if self._process is not None:
                return
            if self._nginx is None:
                self._warn_unserved("web")
                return
            if not self.rtmp_available:
                self._warn_unserved("rtmp")
            self._prepare_workdir()
            self._stop_stale()
            self._control_port = self._new_port()
            self._generation += 1
            self._write_config()
            self._test_config()
            stderr_path = self._workdir / "nginx.stderr.log"
            with stderr_path.open("ab") as stderr:
                self._process = subprocess.Popen(
                    [self._nginx, *self._nginx_args()],
                    stdin=subprocess.DEVNULL,
                    stdout=stderr,
                    stderr=stderr,
                    cwd=self._workdir,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            atexit.register(self.stop)
            try:
                self._wait_for_generation(self._generation, _START_TIMEOUT, log_offset=0)
            except LocalStackError:
                self.stop()
                raise
            log.info(
                "Local edges: nginx %s running as pid %d (config %s)",
                self._nginx,
                self._process.pid,
                self.config_path,
            )
            for edge in self._edges.values():
                if self._serves(edge.kind):
                    wait_for_port(edge.port, _PORT_TIMEOUT)

    def assign(
        self,
        kind: EdgeKind,
        dist_id: str,
        origins: Sequence[EdgeOrigin],
        default_root_object: str,
    ) -> str:
        """Serve distribution `dist_id` and return its domain, `127.0.0.1:PORT`.

        The same `dist_id` always keeps its port; assigning it again applies the new origins.
        When nginx runs, this returns once the port accepts connections.
        """
        if kind not in ("rtmp", "web"):
            raise ValueError(f"unknown edge kind {kind!r}")
        with self._lock:
            previous = self._edges.get(dist_id)
            port = previous.port if previous is not None else self._new_port()
            edge = _Edge(kind, port, tuple(origins), default_root_object)
            domain = f"{LOOPBACK}:{port}"
            self._edges[dist_id] = edge
            if not self._serves(kind):
                self._warn_unserved(kind)
                return domain
            if self._process is None or edge == previous:
                return domain
            try:
                self._reload()
                wait_for_port(port, _PORT_TIMEOUT)
            except LocalStackError:
                if previous is None:
                    del self._edges[dist_id]
                else:
                    self._edges[dist_id] = previous
                self._write_config()
                raise
            log.debug("Local %s edge for %s at %s", kind, dist_id, domain)
            return domain

    def release(self, dist_id: str) -> None:
        """Stop serving `dist_id`; its port is closed when this returns (best effort)."""
        with self._lock:
            edge = self._edges.pop(dist_id, None)
            if edge is None or self._process is None or not self._serves(edge.kind):
                return
            self._reload()
            deadline = time.monotonic() + _RELEASE_TIMEOUT
            while not port_is_free(edge.port):
                if time.monotonic() >= deadline:
                    log.debug("Port %d of released edge %s is still busy", edge.port, dist_id)
                    break
                time.sleep(0.02)

    def stop(self) -> None:
        """Stop nginx: SIGQUIT (graceful), then SIGTERM and SIGKILL to its process group."""
        with self._lock:
            process, self._process = self._process, None
            atexit.unregister(self.stop)
            if process is None:
                return
            if process.poll() is not None:
                # The master died on its own; its workers would keep serving without it.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                log.warning(
                    "nginx (pid %d) had exited with status %s", process.pid, process.returncode
                )
                return
            for sig, timeout in (
                (signal.SIGQUIT, _QUIT_TIMEOUT),
                (signal.SIGTERM, _TERM_TIMEOUT),
                (signal.SIGKILL, _TERM_TIMEOUT),
            ):
                try:
                    if sig == signal.SIGQUIT:
                        os.kill(process.pid, sig)
                    else:
                        # The master may be gone without reaping its workers: signal them too.
                        os.killpg(process.pid, sig)
                except ProcessLookupError:
                    pass
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("nginx (pid %d) ignored %s", process.pid, sig.name)
                    continue
                if sig != signal.SIGQUIT:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                break
            log.info("Local edges: nginx (pid %d) stopped", process.pid)

    def __enter__(self) -> NginxEdges:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _executable(path: str) -> str | None:
        return shutil.which(path)

    def _serves(self, kind: EdgeKind) -> bool:
        return self.rtmp_available if kind == "rtmp" else self.http_available

    def _warn_unserved(self, kind: EdgeKind) -> None:
        if kind in self._warned:
            return
        if self._nginx is None:
            self._warned.update(("rtmp", "web"))
            # The stack's owner tells the user (LocalStack.warnings); this is for the log.
            log.info(
                "nginx was not found, so the local CloudFront edges are not served: RTMP and "
                "HTTP edge URLs (127.0.0.1:PORT) will not play. Install it with `%s`.",
                INSTALL_HINT,
            )
        elif kind == "rtmp":
            self._warned.add("rtmp")
            log.info(
                "The nginx RTMP module (%s) was not found, so local RTMP edge URLs "
                "(rtmp://127.0.0.1:PORT/%s/...) will not play; HTTP edges work. "
                "Install it with `%s`.",
                _RTMP_MODULE_NAME,
                RTMP_APPLICATION,
                INSTALL_HINT,
            )

    def _new_port(self) -> int:
        taken = {edge.port for edge in self._edges.values()} | {self._control_port}
        while True:
            port = free_port()
            if port not in taken:
                return port

    def _path(self, name: str) -> Path:
        return self._workdir / name

    def _prepare_workdir(self) -> None:
        for name in ("tmp/client_body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
            self._path(name).mkdir(parents=True, exist_ok=True)
        self._path("rtmp_tmp").mkdir(parents=True, exist_ok=True)

    def _nginx_args(self) -> list[str]:
        return [
            "-p",
            f"{self._workdir}/",
            "-e",
            str(self._path("error.log")),
            "-c",
            str(self.config_path),
        ]

    def _stop_stale(self) -> None:
        """Stop an nginx a crashed earlier run left behind with this very config file."""
        try:
            pid = int(self._path("nginx.pid").read_text().strip())
            # nginx rewrites its title to "nginx: master process <argv joined by spaces>".
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if str(self.config_path).encode() not in cmdline:
            return
        log.warning("Stopping nginx (pid %d) left running by an earlier local stack", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + _QUIT_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    def _write_config(self) -> None:
        self._workdir.mkdir(parents=True, exist_ok=True)
        staging = self._path("nginx.conf.new")
        staging.write_text(self._render(), encoding="utf-8")
        staging.replace(self.config_path)

    def _test_config(self) -> None:
        assert self._nginx is not None
        try:
            result = subprocess.run(
                [self._nginx, "-t", "-q", *self._nginx_args()],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LocalStackError(f"Could not run {self._nginx} -t: {exc}") from exc
        if result.returncode != 0:
            output = (result.stderr + result.stdout).strip()
            raise LocalStackError(
                f"nginx rejected the generated local edge configuration {self.config_path}: "
                f"{output}"
            )

    def _reload(self) -> None:
        process = self._process
        assert process is not None
        if process.poll() is not None:
            self.stop()
            raise LocalStackError(
                f"nginx (local edges) exited with status {process.returncode}: {self._log_tail()}"
            )
        self._generation += 1
        self._write_config()
        self._test_config()
        offset = self._log_size()
        os.kill(process.pid, signal.SIGHUP)
        self._wait_for_generation(self._generation, _RELOAD_TIMEOUT, log_offset=offset)

    def _log_size(self) -> int:
        try:
            return self._path("error.log").stat().st_size
        except OSError:
            return 0

    def _log_tail(self, offset: int | None = None, limit: int = 2000) -> str:
        try:
            with self._path("error.log").open("rb") as handle:
                if offset is not None:
                    handle.seek(offset)
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return "(no error.log)"
        return text[-limit:].strip() or "(error.log is empty)"

    def _wait_for_generation(self, generation: int, timeout: float, log_offset: int) -> None:
        """Return once only workers with configuration `generation` accept connections.

        A new worker answering the control server is not enough: until the old worker handles
        the master's SIGQUIT it still accepts on the shared listening sockets.
        """
        process = self._process
        assert process is not None
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise LocalStackError(
                    f"nginx (local edges) exited with status {process.returncode}: "
                    f"{self._log_tail()}"
                )
            if self._served_generation() == str(generation) and _old_workers_gone(process.pid):
                return
            new_log = self._log_tail(log_offset) if self._log_size() > log_offset else ""
            if "[emerg]" in new_log:
                raise LocalStackError(
                    f"nginx could not apply the local edge configuration: {new_log}"
                )
            if new_log.count("exited on signal") >= _CRASH_LOOP:
                raise LocalStackError(
                    "nginx workers keep crashing with the local edge configuration "
                    f"{self.config_path}: {new_log[-500:]}"
                )
            if time.monotonic() >= deadline:
                raise LocalStackError(
                    f"nginx did not apply the local edge configuration within {timeout:g} s; "
                    f"{self._path('error.log')} says: {self._log_tail(log_offset)}"
                )
            time.sleep(0.02)

    def _served_generation(self) -> str | None:
        connection = http.client.HTTPConnection(LOOPBACK, self._control_port, timeout=1)
        try:
            connection.request("GET", _GENERATION_PATH)
            response = connection.getresponse()
            return response.read().decode("ascii", "replace").strip()
        except (OSError, http.client.HTTPException):
            return None
        finally:
            connection.close()

    # -- configuration ------------------------------------------------------------------------

    def _render(self) -> str:
        path = self._path
        lines = [
            "# Generated by mediapub (pipeline.local.edges); rewritten on every change.",
            f"# Generation {self._generation}.",
        ]
        if self.rtmp_available:
            assert self._rtmp_module is not None
            lines.append(f"load_module {_quote(str(self._rtmp_module))};")
        if os.geteuid() == 0:
            # As root nginx would run its workers as "nobody", which cannot use a 0700 workdir.
            user = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
            lines.append(f"user {_quote(user)} {_quote(group)};")
        lines += [
            "daemon off;",
            "master_process on;",
            "worker_processes 1;",
            f"pid {_quote(str(path('nginx.pid')))};",
            f"lock_file {_quote(str(path('nginx.lock')))};",
            f"error_log {_quote(str(path('error.log')))} notice;",
            "worker_shutdown_timeout 5s;",
            "",
            "events {",
            "    worker_connections 512;",
            "}",
            "",
        ]
        rtmp_edges = sorted(
            (item for item in self._edges.items() if item[1].kind == "rtmp"),
            key=lambda item: item[1].port,
        )
        web_edges = sorted(
            (item for item in self._edges.items() if item[1].kind == "web"),
            key=lambda item: item[1].port,
        )
        if self.rtmp_available:
            # Always an rtmp block, even without servers: nginx-rtmp keeps a global pointer to
            # the rtmp configuration, and a reload to a config without the block leaves it
            # pointing into the freed old cycle, so new workers crash (SIGSEGV) in a loop.
            servers = [self._rtmp_server(dist_id, edge) for dist_id, edge in rtmp_edges]
            try:
                lines += render_rtmp_block(servers, access_log=str(path("rtmp_access.log")))
            except ValueError as exc:
                raise LocalStackError(str(exc)) from None
            lines.append("")
        access_log = path("access.log")
        access = f"access_log {_quote(str(access_log))};" if "$" not in str(access_log) else ""
        lines += [
            "http {",
            f"    {access or 'access_log off;'}",
            f"    client_body_temp_path {_quote(str(path('tmp/client_body')))};",
            f"    proxy_temp_path {_quote(str(path('tmp/proxy')))};",
            f"    fastcgi_temp_path {_quote(str(path('tmp/fastcgi')))};",
            f"    uwsgi_temp_path {_quote(str(path('tmp/uwsgi')))};",
            f"    scgi_temp_path {_quote(str(path('tmp/scgi')))};",
            "    default_type application/octet-stream;",
            "    server_tokens off;",
            "    merge_slashes off;",
            "",
            "    # The raw (still percent-encoded) request path, forwarded to S3 unchanged.",
            "    map $request_uri $mediapub_raw_path {",
            '        "~^(?<mediapub_path>[^?#]*)" $mediapub_path;',
            "        default $request_uri;",
            "    }",
            "    # The S3 path of a request to the control server's origin access identity proxy.",
            "    map $mediapub_raw_path $mediapub_origin_path {",
            f'        "~^{_ORIGIN_PATH}(?<mediapub_origin_rest>/.*)$" $mediapub_origin_rest;',
            '        default "/";',
            "    }",
            "    # Dot segments (also percent-encoded) could leave the bucket on a path-style URL.",
            "    map $mediapub_raw_path $mediapub_bad_path {",
            "        default 0;",
            '        "~*(?:^|/|%2f)(?:\\.|%2e){1,2}(?:/|%2f|$)" 1;',
            "    }",
            "",
            "    proxy_http_version 1.1;",
            "    proxy_buffering off;",
            "    proxy_request_buffering off;",
            "    proxy_redirect off;",
            "    proxy_connect_timeout 5s;",
            "    proxy_read_timeout 120s;",
            "    proxy_send_timeout 120s;",
            f"    proxy_set_header Host {_quote(self._s3_netloc)};",
            '    proxy_set_header Authorization "";',
            '    proxy_set_header Cookie "";',
            "",
            "    server {",
            "        # Control server: reports which configuration generation the workers run.",
            f"        listen {LOOPBACK}:{self._control_port};",
            "        access_log off;",
            f"        location = {_GENERATION_PATH} {{",
            "            default_type text/plain;",
            f'            return 200 "{self._generation}";',
            "        }",
            "        # RTMP edges with an origin access identity read the bucket through here.",
            f"        location ^~ {_ORIGIN_PATH}/ {{",
            "            if ($mediapub_bad_path) {",
            "                return 400;",
            "            }",
            *self._identity_headers("            "),
            f"            proxy_pass {_quote(f'http://{self._s3_netloc}$mediapub_origin_path')};",
            "        }",
            "        location / {",
            "            return 404;",
            "        }",
            "    }",
        ]
        if self.http_available:
            for dist_id, edge in web_edges:
                lines += self._render_web(dist_id, edge)
        lines += ["}", ""]
        return "\n".join(lines)

    def _rtmp_server(self, dist_id: str, edge: _Edge) -> RtmpServer:
        """The RTMP server of a streaming distribution, rendered by the same template as
        `mediapub edge-config` (`pipeline.edgeconfig.render_rtmp_block`)."""
        origin = _route(edge.origins, "/")
        if origin is None and edge.origins:
            origin = edge.origins[0]
        play: tuple[str, ...] = ()
        on_play = ""
        if origin is not None:
            prefix = _origin_prefix(origin)
            s3, fallback_path = f"http://{self._s3_netloc}", prefix
            if origin.identity:
                s3 = f"http://{LOOPBACK}:{self._control_port}{_ORIGIN_PATH}"
                fallback_path = IDENTITY_PATH + prefix
            play = (s3 + prefix, *(fb + fallback_path for fb in self._fallback_play))
            if origin.signed:
                on_play = self._require_signature_check() + "/rtmp"
        return RtmpServer(
            port=edge.port,
            play=play,
            temp_path=str(self._path("rtmp_tmp")),
            address=LOOPBACK,
            comment=f"streaming distribution {_comment(dist_id)}",
            on_play=on_play,
        )

    def _require_signature_check(self) -> str:
        if not self._signature_check:
            raise LocalStackError(
                "A distribution with trusted signers needs the local signature check, and "
                "this edge has none (NginxEdges(signature_check=...))."
            )
        return self._signature_check

    def _identity_headers(self, indent: str) -> list[str]:
        """The request headers of a location that reads S3 as the origin access identity
        (a location's proxy_set_header replaces every inherited one, so all are repeated)."""
        return [
            f"{indent}proxy_set_header Host {_quote(self._s3_netloc)};",
            f'{indent}proxy_set_header Cookie "";',
            f"{indent}proxy_set_header Authorization {_quote(IDENTITY_AUTHORIZATION)};",
        ]

    def _render_web(self, dist_id: str, edge: _Edge) -> list[str]:
        upstream = f"http://{self._s3_netloc}"
        patterned, default = _routes(edge.origins)
        lines = [
            "",
            f"    server {{  # web distribution {_comment(dist_id)}",
            f"        listen {LOOPBACK}:{edge.port};",
            f"        add_header X-Edge {EDGE_HEADER_VALUE} always;",
            "        if ($request_method !~ ^(?:GET|HEAD|OPTIONS)$) {",
            "            return 403;",
            "        }",
            "        if ($mediapub_bad_path) {",
            "            return 400;",
            "        }",
        ]
        root_key = edge.default_root_object.strip().lstrip("/")
        root_origin = _route(edge.origins, "/" + root_key) if root_key else None
        if root_origin is not None:
            target = _origin_prefix(root_origin) + "/" + quote(root_key, safe=_URI_SAFE)
            lines += [
                "        location = / {",
                f"            set $mediapub_root {_quote(target)};",
                f"            proxy_pass {_quote(upstream + '$mediapub_root')};",
                "        }",
            ]
        for origin in patterned:
            lines.append(f"        location ~ {_quote(_pattern_regex(origin.path_pattern))} {{")
            lines += self._web_location(upstream, origin)
            lines.append("        }")
        lines.append("        location / {")
        if default is not None:
            lines += self._web_location(upstream, default)
        else:
            lines.append("            return 404;")
        lines.append("        }")
        if any(origin.signed for origin in edge.origins):
            lines += [
                f"        location = {_SIGNED_PATH} {{",
                "            internal;",
                "            proxy_pass_request_body off;",
                '            proxy_set_header Content-Length "";',
                "            proxy_set_header X-Original-URI $request_uri;",
                "            proxy_set_header X-Original-Host $http_host;",
                "            proxy_set_header X-Real-IP $remote_addr;",
                f"            proxy_pass {_quote(self._require_signature_check() + '/http')};",
                "        }",
            ]
        lines.append("    }")
        return lines

    def _web_location(self, upstream: str, origin: EdgeOrigin) -> list[str]:
        """The body of the location serving `origin`: a signature check first when it has
        trusted signers, and S3 read as its origin access identity when it has one."""
        indent = "            "
        lines = [f"{indent}auth_request {_SIGNED_PATH};"] if origin.signed else []
        if origin.identity:
            lines += self._identity_headers(indent)
        target = upstream + _origin_prefix(origin) + "$mediapub_raw_path"
        return [*lines, f"{indent}proxy_pass {_quote(target)};"]
