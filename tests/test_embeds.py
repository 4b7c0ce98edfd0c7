"""Embedding by URL: oEmbed files and discovery links, player cards, and the video sitemap."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pipeline import site
from pipeline.config import Settings, load_settings
from pipeline.state import FAILED, InfraRecord, SQLiteStateStore, open_store

from .test_site import Collector, item, parse

HOSTILE = 'a "b" <script>alert(1)</script> & ü'
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
VIDEO = "{http://www.google.com/schemas/sitemap-video/1.1}"
BASE = "https://d111.cloudfront.net/"


@pytest.fixture
def rendered(tmp_path: Path) -> tuple[Settings, SQLiteStateStore, dict[str, dict[str, Any]]]:
    """A rendered site: a plain clip, a hostile title with a poster, an MP3 and a failed item."""
    settings = load_settings(cwd=tmp_path, env={})
    store = open_store(settings.state_dir)
    store.put_infra(
        InfraRecord("download_distribution", "EDL", "d111.cloudfront.net", data={"https": True})
    )
    store.put_infra(
        InfraRecord("streaming_distribution", "EST", "s222.cloudfront.net", data={"enabled": True})
    )
    store.put_item(item("media/clip.mp4", "clip"))
    hostile = item(f"media/{HOSTILE}.mp4", HOSTILE)
    hostile.extras = {"poster": f"media/{HOSTILE}.mp4.poster.jpg"}
    store.put_item(hostile)
    store.put_item(item("media/audio/tone.mp3", "tone", content_type="audio/mpeg"))
    store.put_item(item("media/broken.mp4", "broken", state=FAILED))
    info = site.SiteInfo.from_store(settings, store, None)
    site.render_site(settings, info, store)
    views = {v["title"]: v for v in site.published_views(info, store)}
    return settings, store, views


def oembed_of(settings: Settings, view: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((settings.site_dir / view["oembed"]).read_text("utf-8"))
    return data


def head_of(settings: Settings, view: dict[str, Any]) -> Collector:
    return parse(settings.site_dir / view["page"])


def metas(parsed: Collector) -> dict[str, str]:
    found: dict[str, str] = {}
    for tag, attrs in parsed.tags:
        if tag == "meta" and (attrs.get("property") or attrs.get("name")):
            found[str(attrs.get("property") or attrs.get("name"))] = str(attrs.get("content"))
    return found


def test_oembed_files(rendered: tuple[Settings, SQLiteStateStore, dict[str, Any]]) -> None:
    settings, _, views = rendered
    assert sorted(p.name for p in (settings.site_dir / "oembed").iterdir()) == sorted(
        Path(v["oembed"]).name for v in views.values()
    )
    for title, view in views.items():
        data = oembed_of(settings, view)
        assert data["version"] == "1.0"
        assert data["type"] == ("rich" if title == "tone" else "video")
        assert data["provider_name"] == "Media"
        assert data["title"] == title
        assert (data["width"], data["height"]) == (site.EMBED_WIDTH, site.EMBED_HEIGHT)
        frame = Collector()
        frame.feed(data["html"])
        assert [t for t, _ in frame.tags] == ["iframe"]
        assert frame.tags[0][1]["src"] == BASE + view["embed"]
        assert frame.tags[0][1]["title"] == title
    hostile = oembed_of(settings, views[HOSTILE])
    assert "<script>" not in hostile["html"]
    assert hostile["thumbnail_url"] == views[HOSTILE]["poster_url"]
    assert hostile["thumbnail_url"].startswith(BASE + "media/")
    assert (hostile["thumbnail_width"], hostile["thumbnail_height"]) == (320, 180)
    assert "thumbnail_url" not in oembed_of(settings, views["clip"])


def test_oembed_snippet_and_uploaded_files(
    rendered: tuple[Settings, SQLiteStateStore, dict[str, Any]],
) -> None:
    settings, store, views = rendered
    printed = json.loads(site.snippet_for(settings, store, "clip.mp4", "oembed"))
    assert printed == oembed_of(settings, views["clip"])
    keys = {key for _, key in site.site_files(settings.site_dir)}
    assert {"sitemap.xml", *(v["oembed"] for v in views.values())} <= keys
    assert {"oembed/", "sitemap.xml"} <= set(site.SITE_PREFIXES)
    assert all(any(k.startswith(p) for p in site.SITE_PREFIXES) for k in keys)


def test_discovery_link_and_player_cards(
    rendered: tuple[Settings, SQLiteStateStore, dict[str, Any]],
) -> None:
    settings, _, views = rendered
    for title, view in views.items():
        parsed = head_of(settings, view)
        links = [a for t, a in parsed.tags if t == "link" and a.get("rel") == "alternate"]
        assert len(links) == 1
        assert links[0]["type"] == "application/json+oembed"
        assert links[0]["href"] == BASE + view["oembed"] and links[0]["title"] == title
        meta = metas(parsed)
        assert meta["og:title"] == meta["twitter:title"] == title
        assert meta["og:url"] == BASE + view["page"]
        assert meta["twitter:card"] == "player"
        assert meta["twitter:player"] == BASE + view["embed"]
        assert meta["twitter:player:width"] == str(site.EMBED_WIDTH)
        assert meta["twitter:player:height"] == str(site.EMBED_HEIGHT)
        media = "audio" if title == "tone" else "video"
        assert meta["og:type"] == ("music.song" if media == "audio" else "video.other")
        assert meta[f"og:{media}"] == meta[f"og:{media}:secure_url"] == view["play_url"]
        assert meta[f"og:{media}:type"] == view["play_type"]
        if media == "video":
            assert (meta["og:video:width"], meta["og:video:height"]) == ("320", "180")
        assert ("og:image" in meta) == ("twitter:image" in meta) == bool(view["poster_url"])
        for name, value in meta.items():
            if name.startswith(("og:", "twitter:")) and "//" in value:
                assert urlsplit(value).scheme in ("http", "https"), (name, value)
                assert urlsplit(value).netloc == "d111.cloudfront.net", (name, value)
    hostile = views[HOSTILE]
    raw = (settings.site_dir / hostile["page"]).read_text("utf-8")
    assert "<script>alert" not in raw
    meta = metas(head_of(settings, hostile))
    assert meta["og:image"] == meta["twitter:image"] == hostile["poster_url"]


def test_sitemap(rendered: tuple[Settings, SQLiteStateStore, dict[str, Any]]) -> None:
    settings, _, views = rendered
    raw = (settings.site_dir / "sitemap.xml").read_text("utf-8")
    assert "<script>" not in raw
    root = ET.fromstring(raw)
    assert root.tag == SITEMAP + "urlset"
    entries = {u.findtext(SITEMAP + "loc"): u for u in root.findall(SITEMAP + "url")}
    assert set(entries) == {BASE + "index.html", *(BASE + v["page"] for v in views.values())}
    assert entries[BASE + "index.html"].find(VIDEO + "video") is None
    assert entries[BASE + views["tone"]["page"]].find(VIDEO + "video") is None
    for title in ("clip", HOSTILE):
        view = views[title]
        video = entries[BASE + view["page"]].find(VIDEO + "video")
        assert video is not None
        assert video.findtext(VIDEO + "title") == video.findtext(VIDEO + "description") == title
        assert video.findtext(VIDEO + "content_loc") == view["play_url"]
        assert video.findtext(VIDEO + "player_loc") == BASE + view["embed"]
        assert video.findtext(VIDEO + "duration") == "4"
        assert video.findtext(VIDEO + "thumbnail_loc") == (view["poster_url"] or None)


def test_stale_oembed_files_are_removed(
    rendered: tuple[Settings, SQLiteStateStore, dict[str, Any]],
) -> None:
    settings, store, views = rendered
    clip = store.get_item("media/clip.mp4")
    assert clip is not None
    clip.state = FAILED
    store.put_item(clip)
    site.render_site(settings, site.SiteInfo.from_store(settings, store, None), store)
    assert not (settings.site_dir / views["clip"]["oembed"]).exists()
    assert len(list((settings.site_dir / "oembed").iterdir())) == 2
    assert BASE + views["clip"]["page"] not in (settings.site_dir / "sitemap.xml").read_text()
