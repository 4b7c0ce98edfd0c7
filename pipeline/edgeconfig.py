"""A self-hosted RTMP edge: nginx with its RTMP module serving a bucket like CloudFront did.

AWS retired CloudFront's streaming (RTMP) distributions on 2020-12-31. `render_config` writes a
complete nginx.conf whose RTMP application `cfx/st` plays the bucket's objects under the stream
names those distributions used (`mp4:<key>`, the FLV key without `.flv`, `mp3:<key without
.mp3>`), for players that still need RTMP.

`render_rtmp_block` is the one template of the `rtmp { server { application cfx/st } }` block:
the embedded local stack's RTMP edges (`pipeline.local.edges`) are rendered by it too, so the
configuration its tests play through is the one `mediapub edge-config` prints.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.config import Settings
from pipeline.errors import ConfigError, InputError
from pipeline.urls import RTMP_APPLICATION

__all__ = [
    "DEBIAN_RTMP_MODULE",
    "DEFAULT_PORT",
    "RtmpServer",
    "default_origin",
    "nginx_quote",
    "render_config",
    "render_rtmp_block",
]

log = logging.getLogger(__name__)

DEBIAN_RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
"""Where Debian's and Ubuntu's `libnginx-mod-rtmp` install nginx-rtmp's dynamic module."""

DEFAULT_PORT = 1935
"""The RTMP port."""

_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")
_UNSAFE_URL_CHARS = re.compile(r"[\s\"'\\{};#$]")
_FILES = ("nginx.pid", "error.log", "rtmp_access.log")


def nginx_quote(value: str) -> str:
    """`value` as one double-quoted nginx configuration token; ValueError if it cannot be one.

    nginx's tokenizer unescapes only \\\\ and \\" inside double quotes (and \\t, \\r, \\n).
    """
    if any(char in value for char in "\r\n\0"):
        raise ValueError(f"Cannot write {value!r} into the nginx configuration.")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class RtmpServer:
    """One RTMP server whose `cfx/st` application plays files from HTTP `play` locations.

    nginx-rtmp asks each location in turn for `<location>/<name>` (`mp4:` dropped, `.flv`
    added to names without a known prefix) and plays the first 2xx answer, which it downloads
    into a file in `temp_path` first.
    """

    port: int
    play: tuple[str, ...]
    temp_path: str
    address: str = ""
    """The address to listen on; empty for every IPv4 address."""
    comment: str = ""
    on_play: str = ""
    """An HTTP URL nginx-rtmp asks before each play (2xx allows it), or empty."""


def render_rtmp_block(servers: Sequence[RtmpServer], access_log: str | None) -> list[str]:
    """The lines of an `rtmp { ... }` block with `servers`, each serving `cfx/st`.

    `access_log`: the RTMP access log's path (nginx-rtmp's default is the compiled-in
    /var/log/nginx/access.log), relative to nginx's prefix or absolute; None turns it off.
    """
    if access_log is None or "$" in access_log:
        lines = ["rtmp {", "    access_log off;"]
    else:
        lines = ["rtmp {", f"    access_log {nginx_quote(access_log)};"]
    for server in servers:
        listen = f"{server.address}:{server.port}" if server.address else str(server.port)
        comment = f"  # {server.comment}" if server.comment else ""
        lines += [
            f"    server {{{comment}",
            f"        listen {listen};",
            f"        application {RTMP_APPLICATION} {{",
            "            live off;",
        ]
        if server.on_play:
            lines.append(f"            on_play {nginx_quote(server.on_play)};")
        if server.play:
            lines += [
                f"            play {' '.join(nginx_quote(url) for url in server.play)};",
                f"            play_temp_path {nginx_quote(server.temp_path)};",
            ]
        lines += ["        }", "    }"]
    lines.append("}")
    return lines


def default_origin(settings: Settings) -> str:
    """The HTTP(S) base URL of the streaming bucket: S3's virtual-hosted URL in `region`, or
    `<endpoint_url>/<bucket>` (path style) when an endpoint is configured."""
    bucket = settings.streaming.bucket
    if settings.endpoint_url:
        return f"{settings.endpoint_url.rstrip('/')}/{bucket}"
    return f"https://{bucket}.s3.{settings.region}.amazonaws.com/"


def _play_location(url: str, option: str, *, warn: bool = True) -> str:
    """`url` as an nginx-rtmp play location: http://host[:port][/path] without a trailing "/".

    nginx-rtmp fetches over plain HTTP only (anything else is read as a local directory), so
    an https:// URL is fetched as http:// from the same host (with a warning when `warn`).
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InputError(f"{option} {url}: not a URL ({exc}).") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"{option} {url}: expected an http:// or https:// URL such as "
            "https://my-media.s3.us-east-1.amazonaws.com or http://127.0.0.1:9000/my-media."
        )
    host = parts.netloc
    host_only = host[: -len(f":{port}")] if port is not None else host
    if "@" in host or host.endswith(":") or not _HOST.fullmatch(host_only):
        raise InputError(
            f"{option} {url}: expected a host name or address and an optional port, without "
            "user name or password (the edge fetches public objects anonymously)."
        )
    if port == 0:
        raise InputError(f"{option} {url}: the port must be 1 to 65535.")
    if parts.query or parts.fragment or url.strip().endswith(("?", "#")):
        raise InputError(f"{option} {url}: expected no query string or fragment.")
    if _UNSAFE_URL_CHARS.search(parts.path) or any(ord(c) < 32 for c in parts.path):
        raise InputError(
            f"{option} {url}: the path may not contain spaces, quotes, backslashes, "
            "'{', '}', ';', '#' or '$'; percent-encode them."
        )
    if parts.scheme == "https" and warn:
        log.warning(
            "%s %s: nginx-rtmp fetches over plain HTTP only, so the edge asks http://%s; "
            "make sure it answers there (S3 does)",
            option,
            url,
            host + parts.path.rstrip("/"),
        )
    return f"http://{host}{parts.path.rstrip('/')}"


def _mp3_comment(mp3_origin: str | None) -> list[str]:
    common = [
        "# MP3: nginx-rtmp reads only FLV and MP4. It asks every play location for",
        '# mp3:<name> as "mp3:<name>.flv", which is not an object in the bucket.',
    ]
    if mp3_origin is not None:
        return [
            *common,
            f"# Such requests fall through to the second play location, {mp3_origin},",
            "# which must answer GET <location>/mp3:<key without .mp3>.flv with the MP3's audio",
            "# in an FLV container (ffmpeg -i in.mp3 -map 0:a -c:a copy -f flv out.flv), and",
            "# anything else with an error.",
        ]
    return [
        *common,
        "# So mp3: streams do not play from this edge as configured: they need such a",
        "# remuxing origin as a second play location (mediapub edge-config --mp3-origin URL;",
        "# it must answer GET <URL>/mp3:<key without .mp3>.flv with the MP3's audio in an FLV",
        "# container, copied with ffmpeg -i in.mp3 -map 0:a -c:a copy -f flv out.flv), or the",
        "# audio must be published as FLV or MP4 instead.",
    ]


def render_config(
    settings: Settings,
    *,
    origin: str | None = None,
    port: int = DEFAULT_PORT,
    mp3_origin: str | None = None,
    prefix: Path | None = None,
    user: str | None = None,
) -> str:
    """A complete nginx.conf for a self-hosted RTMP edge of the streaming bucket.

    `origin`: the bucket's HTTP(S) base URL (default: `default_origin(settings)`).
    `mp3_origin`: an HTTP location that remuxes `mp3:` streams to FLV, asked after the origin.
    `prefix`: a folder for the pid file, the logs and the download temp files, written as
    absolute paths; without it they are relative to nginx's prefix (`nginx -p DIR`), and the
    temp files go to /tmp (nginx-rtmp does not resolve a relative `play_temp_path`).
    `user`: the user nginx's workers run as when it starts as root (default: nginx's, nobody).
    """
    if not 0 < port < 65536:
        raise InputError(f"--port {port}: expected a port from 1 to 65535.")
    if origin is not None:
        given, play = origin, [_play_location(origin, "--origin")]
    else:
        given = default_origin(settings)
        try:
            play = [_play_location(given, "origin", warn=bool(settings.endpoint_url))]
        except InputError as exc:
            raise ConfigError(
                f"{exc} It is made from region, endpoint_url and streaming.bucket; fix them, "
                "or give the bucket's URL with --origin."
            ) from None
    if mp3_origin is not None:
        play.append(_play_location(mp3_origin, "--mp3-origin"))
    if user is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", user):
        raise InputError(f"--user {user}: expected a user name such as www-data.")
    if prefix is not None:
        folder = str(prefix.expanduser().resolve())
        pid, error_log, access_log = (f"{folder}/{name}" for name in _FILES)
        temp = folder
        check = f"nginx -t -c FILE -p {folder}/"
        run = f"nginx -c FILE -p {folder}/"
    else:
        pid, error_log, access_log = _FILES
        temp = "/tmp"
        check = "nginx -t -c FILE -p DIR/"
        run = "nginx -c FILE -p DIR/   (DIR holds nginx.pid and the logs)"
    server = RtmpServer(port=port, play=tuple(play), temp_path=temp, comment="RTMP edge")
    try:
        head = [
            f"load_module {nginx_quote(str(DEBIAN_RTMP_MODULE))};",
            *([f"user {user};"] if user is not None else []),
            "worker_processes auto;",
            f"pid {nginx_quote(pid)};",
            f"error_log {nginx_quote(error_log)};",
        ]
        rtmp = render_rtmp_block([server], access_log=access_log)
    except ValueError as exc:
        raise InputError(f"--prefix {prefix}: {exc}") from None
    streamer = f"rtmp://HOST{'' if port == DEFAULT_PORT else f':{port}'}/{RTMP_APPLICATION}"
    lines = [
        "# nginx configuration of a self-hosted RTMP edge, printed by `mediapub edge-config`.",
        "#",
        "# It plays the objects of a bucket over RTMP under the names CloudFront's streaming",
        "# distributions used until AWS retired them on 2020-12-31 (keys percent-encoded):",
        f"#   {streamer}/mp4:<key>                MP4, M4V, MOV, F4V",
        f"#   {streamer}/<key without .flv>       FLV",
        f"#   {streamer}/mp3:<key without .mp3>   MP3 (see below)",
        "#",
        f"# Origin: {given}",
        *([f"# fetched as {play[0]}"] if play[0] != given.strip().rstrip("/") else []),
        "# Its objects must be publicly readable. nginx-rtmp fetches play locations over plain",
        "# HTTP only (S3 serves public objects over both), from the addresses their host names",
        "# had when nginx loaded this file (reload it now and then), and downloads each object",
        "# completely before it starts playing it.",
        "#",
        *_mp3_comment(play[1] if mp3_origin is not None else None),
        "#",
        "# Needs nginx with the RTMP module (Debian, Ubuntu: apt-get install nginx",
        "# libnginx-mod-rtmp). Its workers write download temp files, unlinked at once, into",
        f"# {temp}, which their user must be able to write. Check, then run:",
        f"#   {check}",
        f"#   {run}",
        "",
        *head,
        "",
        "events {",
        "    worker_connections 1024;",
        "}",
        "",
        *rtmp,
        "",
    ]
    return "\n".join(lines)
