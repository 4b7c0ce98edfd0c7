"""Tests for pipeline.urls: key quoting, RTMP stream URLs and HTTP(S) URLs."""

from __future__ import annotations

import os
from urllib.parse import unquote

import pytest

from pipeline.errors import ConfigError, InputError
from pipeline.media import object_key, stream_name
from pipeline.urls import (
    check_domain,
    http_url,
    quote_key,
    rtmp_stream,
    rtmp_streamer,
    rtmp_url,
    site_url,
)

CF = "d111111abcdef8.cloudfront.net"


# --- quote_key ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("media/videos/clip.mp4", "media/videos/clip.mp4"),
        ("AZaz09-._~/x", "AZaz09-._~/x"),
        ("bars and tone.flv", "bars%20and%20tone.flv"),
        ('a "b" <c>.mp4', "a%20%22b%22%20%3Cc%3E.mp4"),
        ("vidéo.mp4", "vid%C3%A9o.mp4"),
        ("音楽/曲.mp3", "%E9%9F%B3%E6%A5%BD/%E6%9B%B2.mp3"),
        ("emoji 🎬.mp4", "emoji%20%F0%9F%8E%AC.mp4"),
        ("a:b.mp4", "a%3Ab.mp4"),
        ("100%.mp4", "100%25.mp4"),
        ("a+b&c=d?e#f.mp4", "a%2Bb%26c%3Dd%3Fe%23f.mp4"),
        (
            "it's (1) [x] {y} @z!$,;*.mp4",
            "it%27s%20%281%29%20%5Bx%5D%20%7By%7D%20%40z%21%24%2C%3B%2A.mp4",
        ),
        ("back\\slash.mp4", "back%5Cslash.mp4"),
        ("", ""),
    ],
)
def test_quote_key(key: str, expected: str) -> None:
    assert quote_key(key) == expected
    assert unquote(expected) == key


def test_quote_key_rejects_names_that_are_not_utf8() -> None:
    with pytest.raises(InputError):
        quote_key(os.fsdecode(b"bad\xff.mp4"))


# --- domains -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "domain", [CF, "localhost", "localhost:1935", "127.0.0.1:8080", "[::1]:1935", "my_host.local"]
)
def test_good_domains(domain: str) -> None:
    assert check_domain(domain) == domain


@pytest.mark.parametrize(
    "domain",
    [
        "",
        "http://example.com",
        "example.com/",
        "example.com/path",
        "example.com:",
        "example.com:0",
        "example.com:65536",
        "example.com:http",
        "exa mple.com",
        " example.com",
        "-example.com",
        "user@example.com",
    ],
)
def test_bad_domains(domain: str) -> None:
    with pytest.raises(ConfigError):
        check_domain(domain)
    with pytest.raises(ConfigError):
        rtmp_streamer(domain)
    with pytest.raises(ConfigError):
        http_url(domain, "a.mp4", https=True)


# --- RTMP --------------------------------------------------------------------------------------


def test_rtmp_streamer() -> None:
    assert rtmp_streamer(CF) == f"rtmp://{CF}/cfx/st"
    assert rtmp_streamer("localhost:1935") == "rtmp://localhost:1935/cfx/st"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mp4:media/videos/clip.mp4", "mp4:media/videos/clip.mp4"),
        ("mp3:audio/tone", "mp3:audio/tone"),
        ("media/videos/bars and tone", "media/videos/bars%20and%20tone"),
        ('mp4:media/a "b" <c>.mp4', "mp4:media/a%20%22b%22%20%3Cc%3E.mp4"),
        ("mp4:vidéo ü.mp4", "mp4:vid%C3%A9o%20%C3%BC.mp4"),
        ("mp4:a:b.mp4", "mp4:a%3Ab.mp4"),
        # A bare FLV name whose key starts like a prefix must not read as one.
        ("flv:clip", "flv%3Aclip"),
        ("mp4x:clip", "mp4x%3Aclip"),
    ],
)
def test_rtmp_stream(name: str, expected: str) -> None:
    assert rtmp_stream(name) == expected


@pytest.mark.parametrize("name", ["", "mp4:", "mp3:"])
def test_rtmp_stream_rejects_empty(name: str) -> None:
    with pytest.raises(InputError):
        rtmp_stream(name)


@pytest.mark.parametrize(
    ("relpath", "expected"),
    [
        ("clip.mp4", "rtmp://{d}/cfx/st/mp4:media/clip.mp4"),
        ("videos/bars and tone.flv", "rtmp://{d}/cfx/st/media/videos/bars%20and%20tone"),
        ("audio/tone.mp3", "rtmp://{d}/cfx/st/mp3:media/audio/tone"),
        ("a/b/c.mov", "rtmp://{d}/cfx/st/mp4:media/a/b/c.mov"),
        ("x.f4v", "rtmp://{d}/cfx/st/mp4:media/x.f4v"),
        ("x.m4v", "rtmp://{d}/cfx/st/mp4:media/x.m4v"),
        ('a "b" <c>.mp4', "rtmp://{d}/cfx/st/mp4:media/a%20%22b%22%20%3Cc%3E.mp4"),
        ("çà/ü.mp3", "rtmp://{d}/cfx/st/mp3:media/%C3%A7%C3%A0/%C3%BC"),
    ],
)
def test_rtmp_url_from_relpath(relpath: str, expected: str) -> None:
    key = object_key("media", relpath)
    ext = "." + relpath.rsplit(".", 1)[1]
    assert rtmp_url(CF, stream_name(key, ext)) == expected.format(d=CF)


# --- HTTP --------------------------------------------------------------------------------------


def test_http_url() -> None:
    assert http_url(CF, "media/clip.mp4", https=True) == f"https://{CF}/media/clip.mp4"
    assert http_url(CF, "media/clip.mp4", https=False) == f"http://{CF}/media/clip.mp4"
    assert (
        http_url("localhost:4566", "media/videos/bars and tone.flv", False)
        == "http://localhost:4566/media/videos/bars%20and%20tone.flv"
    )
    assert (
        http_url(CF, 'media/a "b" <c>.mp4', True) == f"https://{CF}/media/a%20%22b%22%20%3Cc%3E.mp4"
    )
    assert http_url(CF, "médias/ü.mp3", True) == f"https://{CF}/m%C3%A9dias/%C3%BC.mp3"


@pytest.mark.parametrize("key", ["", "/media/clip.mp4"])
def test_http_url_rejects_odd_keys(key: str) -> None:
    with pytest.raises(InputError):
        http_url(CF, key, True)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", "https://{d}/"),
        ("/", "https://{d}/"),
        ("index.html", "https://{d}/index.html"),
        ("/index.html", "https://{d}/index.html"),
        ("videos/bars and tone.html", "https://{d}/videos/bars%20and%20tone.html"),
        ("media/", "https://{d}/media/"),
    ],
)
def test_site_url(path: str, expected: str) -> None:
    assert site_url(CF, path, True) == expected.format(d=CF)


def test_site_url_http() -> None:
    assert site_url("localhost:8000", "index.html", False) == "http://localhost:8000/index.html"
