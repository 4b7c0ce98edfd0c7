"""Rendering from the state store: pages, manifest, snippets, escaping of hostile names."""

from __future__ import annotations

import html.parser
import json
from pathlib import Path

import pytest

from pipeline import site, sitebuild
from pipeline.config import Settings, load_settings
from pipeline.errors import InputError
from pipeline.state import FAILED, PUBLISHED, InfraRecord, Item, SQLiteStateStore, open_store

HOSTILE = "a \"b\" <script>alert(1)</script> 'c' & ü"


class Collector(html.parser.HTMLParser):
    """Collects tags, attributes and text so tests can look at what a browser would parse."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> Collector:
    collector = Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    return collector


def item(key: str, title: str, state: str = PUBLISHED, content_type: str = "video/mp4") -> Item:
    return Item(
        key=key,
        bucket="mediapub-media",
        source=key.removeprefix("media/"),
        source_path="/src/" + key,
        size=157145,
        sha256="ab" * 32,
        content_type=content_type,
        kind="audio" if content_type.startswith("audio") else "video",
        stream_name=("mp3:" + key.removesuffix(".mp3"))
        if content_type.startswith("audio")
        else "mp4:" + key,
        title=title,
        state=state,
        published_at="2026-11-30T00:00:00Z",
        probe={"duration": 4.0, "width": 320, "height": 180},
    )


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Settings, SQLiteStateStore]:
    settings = load_settings(cwd=tmp_path, env={})
    store = open_store(settings.state_dir)
    store.put_infra(
        InfraRecord("download_distribution", "EDL", "d111.cloudfront.net", data={"https": True})
    )
    store.put_infra(
        InfraRecord(
            "streaming_distribution",
            "EST",
            "s222.cloudfront.net",
            status="Deployed",
            data={"enabled": True, "cnames": [], "price_class": "PriceClass_All"},
        )
    )
    store.put_item(item("media/clip.mp4", "clip"))
    store.put_item(item(f"media/{HOSTILE}.mp4", HOSTILE))
    store.put_item(item("media/audio/tone.mp3", "tone", content_type="audio/mpeg"))
    store.put_item(item("media/broken.mp4", "broken", state=FAILED))
    return settings, store


def render(settings: Settings, store: SQLiteStateStore) -> dict[str, object]:
    info = site.SiteInfo.from_store(settings, store, None)
    site.render_site(settings, info, store)
    return json.loads((settings.site_dir / "manifest.json").read_text(encoding="utf-8"))


def test_manifest_contract(setup: tuple[Settings, SQLiteStateStore]) -> None:
    settings, store = setup
    manifest = render(settings, store)
    assert manifest["target"] == "local"
    assert manifest["buckets"] == {"streaming": "mediapub-media", "player": "mediapub-player"}
    assert manifest["streaming_distribution"] == {
        "id": "EST",
        "domain": "s222.cloudfront.net",
        "status": "Deployed",
        "enabled": True,
        "cnames": [],
        "price_class": "PriceClass_All",
        "streamer": "rtmp://s222.cloudfront.net/cfx/st",
    }
    assert manifest["download_distribution"] == {
        "id": "EDL",
        "domain": "d111.cloudfront.net",
        "https": True,
    }
    assert manifest["index_url"] == "https://d111.cloudfront.net/index.html"
    assert manifest["crossdomain_url"] == "https://d111.cloudfront.net/crossdomain.xml"
    assert manifest["player_url"] == "https://d111.cloudfront.net/player/player.js"
    items = {i["key"]: i for i in manifest["items"]}  # type: ignore[union-attr]
    assert set(items) == {"media/clip.mp4", f"media/{HOSTILE}.mp4", "media/audio/tone.mp3"}
    clip = items["media/clip.mp4"]
    assert clip["rtmp_url"] == "rtmp://s222.cloudfront.net/cfx/st/mp4:media/clip.mp4"
    assert clip["http_url"] == "https://d111.cloudfront.net/media/clip.mp4"
    assert clip["stream_name"] == "mp4:media/clip.mp4"
    assert items["media/audio/tone.mp3"]["rtmp_url"].endswith("/cfx/st/mp3:media/audio/tone")
    assert set(clip) == {
        "source", "bucket", "key", "size", "sha256", "content_type", "stream_name", "rtmp_url",
        "http_url", "play_url", "play_type", "poster_url", "hls_url", "page", "embed", "title",
        "published_at",
    }  # fmt: skip
    assert clip["play_url"] == clip["http_url"] and clip["poster_url"] == clip["hls_url"] == ""


def test_hostile_names_are_escaped_everywhere(setup: tuple[Settings, SQLiteStateStore]) -> None:
    settings, store = setup
    manifest = render(settings, store)
    hostile = next(i for i in manifest["items"] if i["title"] == HOSTILE)  # type: ignore[union-attr]
    assert hostile["http_url"] == (
        "https://d111.cloudfront.net/media/a%20%22b%22%20%3Cscript%3Ealert%281%29%3C/script%3E"
        "%20%27c%27%20%26%20%C3%BC.mp4"
    )
    assert " " not in hostile["rtmp_url"] and "<" not in hostile["rtmp_url"]
    page = settings.site_dir / hostile["page"]
    assert page.resolve().is_relative_to(settings.site_dir.resolve())
    raw = page.read_text(encoding="utf-8")
    assert "<script>alert(1)" not in raw
    parsed = parse(page)
    assert HOSTILE in "".join(parsed.text)  # the title reads right once parsed
    assert not any(t == "script" and not a.get("src") for t, a in parsed.tags)
    source = next(a for t, a in parsed.tags if t == "source")
    assert source["src"] == hostile["http_url"]
    index = (settings.site_dir / "index.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in index
    assert "&lt;script&gt;" in index


def test_pages_for_published_items_only_and_stale_pages_removed(
    setup: tuple[Settings, SQLiteStateStore],
) -> None:
    settings, store = setup
    render(settings, store)
    pages = sorted(p.name for p in (settings.site_dir / "items").iterdir())
    assert len(pages) == 3 and not any("broken" in p for p in pages)
    gone = store.get_item("media/clip.mp4")
    assert gone is not None
    gone.state = FAILED
    store.put_item(gone)
    render(settings, store)
    assert len(list((settings.site_dir / "items").iterdir())) == 2
    assert len(list((settings.site_dir / "embed").iterdir())) == 2


def test_item_page_shows_rtmp_url_streamer_and_file(
    setup: tuple[Settings, SQLiteStateStore],
) -> None:
    settings, store = setup
    manifest = render(settings, store)
    clip = next(i for i in manifest["items"] if i["key"] == "media/clip.mp4")  # type: ignore[union-attr]
    parsed = parse(settings.site_dir / clip["page"])
    inputs = [a.get("value") for t, a in parsed.tags if t == "input"]
    assert clip["rtmp_url"] in inputs and clip["http_url"] in inputs
    text = "".join(parsed.text)
    assert "rtmp://s222.cloudfront.net/cfx/st" in text and "mp4:media/clip.mp4" in text
    stylesheet = next(a for t, a in parsed.tags if t == "link")
    assert stylesheet["href"] == "https://d111.cloudfront.net/player/player.css"


def test_snippets(setup: tuple[Settings, SQLiteStateStore]) -> None:
    settings, store = setup
    render(settings, store)
    iframe = site.snippet_for(settings, store, "clip.mp4", "iframe")
    assert iframe.startswith('<iframe src="https://d111.cloudfront.net/embed/media-clip.mp4-')
    jw = site.snippet_for(settings, store, "media/clip.mp4", "jwplayer")
    assert '"streamer": "rtmp://s222.cloudfront.net/cfx/st"' in jw
    assert '"file": "mp4:media/clip.mp4"' in jw
    as_json = json.loads(site.snippet_for(settings, store, "tone", "json"))
    assert as_json["content_type"] == "audio/mpeg"
    hostile = site.snippet_for(settings, store, HOSTILE, "jwplayer")
    assert "<script>alert" not in hostile.replace("<script>\n", "")
    assert "\\u003cscript\\u003e" in hostile
    html_snippet = site.snippet_for(settings, store, "tone", "html")
    assert html_snippet.startswith("<audio")
    with pytest.raises(InputError, match="no published item"):
        site.snippet_for(settings, store, "nothing", "iframe")


def test_user_templates_override_bundled(tmp_path: Path) -> None:
    override = tmp_path / "tpl"
    override.mkdir()
    (override / "index.html").write_text(
        '{% extends "base.html" %}{% block main %}CUSTOM {{ items|length }}{% endblock %}'
    )
    env = site.environment(override)
    text = env.get_template("index.html").render(
        items=[1, 2], root="", site_title="T", player_css="c", player_js="j"
    )
    assert "CUSTOM 2" in text
    assert env.get_template("item.html").filename.startswith(str(site.bundled_templates()))


def test_slugs_stay_inside_the_site() -> None:
    for key in ("../../etc/passwd", "media/..\\x", "/abs", "a" * 500):
        slug = site.item_slug(key)
        assert "/" not in slug and not slug.startswith(".") and len(slug) < 100
    assert site.item_slug("a b") != site.item_slug("a-b")


def written_names(built: sitebuild.Built, root: Path) -> set[str]:
    return {path.relative_to(root.resolve()).as_posix() for path in built.written}


def test_incremental_render_rewrites_only_what_changed(
    setup: tuple[Settings, SQLiteStateStore],
) -> None:
    settings, store = setup
    info = site.SiteInfo.from_store(settings, store, None)
    first = site.render_site(settings, info, store)
    assert len(first.written) == 3 * 3 + 3  # three items' pages, index, sitemap, manifest
    assert site.render_site(settings, info, store).written == []

    clip = store.get_item("media/clip.mp4")
    assert clip is not None
    clip.title = "clip <renamed>"
    store.put_item(clip)
    view = site.item_view(info, clip)
    changed = {view["page"], view["embed"], view["oembed"], "index.html", "sitemap.xml"}
    changed.add("manifest.json")
    assert written_names(site.render_site(settings, info, store), settings.site_dir) == changed
    for page in (view["page"], "index.html"):
        text = (settings.site_dir / page).read_text(encoding="utf-8")
        assert "clip &lt;renamed&gt;" in text and ">clip<" not in text

    # A new process knows only the fingerprints kept beside the site, and a deleted page is
    # written again.
    sitebuild.forget()
    (settings.site_dir / view["embed"]).unlink()
    rewritten = site.render_site(settings, site.SiteInfo.from_store(settings, store, None), store)
    assert written_names(rewritten, settings.site_dir) == {view["embed"]}


def test_a_changed_template_renders_its_pages_again(tmp_path: Path) -> None:
    (tmp_path / "tpl").mkdir()
    config = f"[site]\ntemplates = {json.dumps(str(tmp_path / 'tpl'))}\n"
    (tmp_path / "mediapub.toml").write_text(config, encoding="utf-8")
    settings = load_settings(cwd=tmp_path, env={})
    store = open_store(settings.state_dir)
    store.put_item(item("media/clip.mp4", "clip"))
    info = site.SiteInfo.from_store(settings, store, None)
    site.render_site(settings, info, store)
    (tmp_path / "tpl" / "embed.html").write_text("EMBED {{ item.title }}\n", encoding="utf-8")
    built = site.render_site(settings, info, store)
    embed = settings.site_dir / site.item_view(info, item("media/clip.mp4", "clip"))["embed"]
    assert embed.read_text(encoding="utf-8") == "EMBED clip\n"
    assert embed.resolve() in built.written


def test_large_sites_have_numbered_index_pages(
    setup: tuple[Settings, SQLiteStateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store = setup
    monkeypatch.setattr(sitebuild, "INDEX_PAGE_SIZE", 2)
    render(settings, store)
    first, second = (
        parse(settings.site_dir / "index.html"),
        parse(settings.site_dir / "pages/2.html"),
    )
    assert len([a for t, a in first.tags if t == "tr"]) == 1 + 2  # the header row and 2 items
    assert len([a for t, a in second.tags if t == "tr"]) == 1 + 1
    assert ("a", {"href": "pages/2.html"}) in first.tags
    assert ("a", {"href": "../index.html"}) in second.tags
    assert ("a", {"href": "../items/" + site.item_slug("media/clip.mp4") + ".html"}) in (
        first.tags + second.tags
    )
    assert "pages/2.html" in {key for _, key in site.site_files(settings.site_dir)}
    gone = store.get_item("media/clip.mp4")
    assert gone is not None
    gone.state = FAILED
    store.put_item(gone)
    render(settings, store)
    assert not (settings.site_dir / "pages" / "2.html").exists()
    assert not any(t == "nav" for t, _ in parse(settings.site_dir / "index.html").tags)
