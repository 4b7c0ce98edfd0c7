"""Build the RTMP and HTTP(S) URLs of published media and of the player site."""

from __future__ import annotations

import functools
import re
import urllib.parse

from pipeline.errors import ConfigError, InputError

RTMP_APPLICATION = "cfx/st"
"""The application every CloudFront RTMP distribution serves streams from."""

STREAM_PREFIXES = ("mp4:", "mp3:")
"""Stream-name prefixes that select the media flavour and stay literal in a URL."""

_DOMAIN = re.compile(
    r"""
    (?:
        [A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?   # host name or IPv4 address
      | \[[0-9A-Fa-f:.]+\]                         # bracketed IPv6 address
    )
    (?::(?P<port>[0-9]{1,5}))?
    """,
    re.VERBOSE,
)


def quote_key(key: str) -> str:
    """Percent-encode `key` as UTF-8, leaving only unreserved characters and "/" as they are.

    "videos/a b.mp4" -> "videos/a%20b.mp4"; "é" -> "%C3%A9"; ":" -> "%3A".
    """
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{key!r}: not valid UTF-8, so it cannot go in a URL.") from None
    # urllib keeps exactly the RFC 3986 unreserved characters, plus the "/" asked for.
    return urllib.parse.quote(key, safe="/")


@functools.lru_cache(maxsize=256)
def check_domain(domain: str) -> str:
    """Return `domain` ("host" or "host:port") unchanged, or raise ConfigError if it is not one."""
    match = _DOMAIN.fullmatch(domain)
    port = match.group("port") if match else None
    if match is None or (port is not None and not 0 < int(port) < 65536):
        raise ConfigError(
            f"{domain!r} is not a domain; give a host name or host:port, "
            "without a scheme or path (for example d111111abcdef8.cloudfront.net)."
        )
    return domain


def rtmp_streamer(domain: str) -> str:
    """The RTMP "streamer" (server and application) of a distribution: rtmp://<domain>/cfx/st."""
    return f"rtmp://{check_domain(domain)}/{RTMP_APPLICATION}"


def rtmp_stream(name: str) -> str:
    """Percent-encode the stream `name` (from `pipeline.media.stream_name`) for a URL.

    A leading "mp4:" or "mp3:" stays literal; the rest is encoded like an object key, so a
    colon in a bare FLV name becomes "%3A" and cannot be read as a prefix.
    """
    prefix = next((p for p in STREAM_PREFIXES if name.startswith(p)), "")
    rest = name[len(prefix) :]
    if not rest:
        raise InputError(f"{name!r}: the stream name is empty.")
    return prefix + quote_key(rest)


def rtmp_url(domain: str, stream_name: str) -> str:
    """The full RTMP URL of a stream: rtmp://<domain>/cfx/st/<encoded stream name>."""
    return f"{rtmp_streamer(domain)}/{rtmp_stream(stream_name)}"


def _base(domain: str, https: bool) -> str:
    return f"{'https' if https else 'http'}://{check_domain(domain)}/"


def http_url(domain: str, key: str, https: bool) -> str:
    """The HTTP(S) URL of the object `key` on `domain`: http(s)://<domain>/<quoted key>."""
    if not key or key.startswith("/"):
        raise InputError(f"{key!r}: an object key must not be empty or start with '/'.")
    return _base(domain, https) + quote_key(key)


def site_url(domain: str, path: str, https: bool) -> str:
    """The HTTP(S) URL of the site page `path` ("", "/" and "index.html" all work) on `domain`."""
    return _base(domain, https) + quote_key(path.lstrip("/"))
