"""In a real browser: the site `publish` renders on the shared local stack, opened in headless
Chromium (Debian's /usr/bin/chromium, driven by Playwright). Every page must load without a
console error, every item a browser can play must really play (its clock passes one second),
and file names are shown as text, never as markup.

Playwright never downloads a browser here: it drives the system Chromium. Without Chromium or
Playwright these tests are skipped, and fail when CI is set.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pipeline import publisher
from pipeline.context import build_context
from pipeline.local.stack import LocalStack
from pipeline.site import EMBED_HEIGHT, EMBED_WIDTH

from .conftest import SAMPLES, need, settings_for, unavailable, unique

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Frame, Page, Response

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
TIMEOUT_MS = 15_000  # every Playwright wait, playback included
PLAYED_SECONDS = 1.0

UNICODE_NAME = "vidéo ü.mp4"
HOSTILE_NAME = 'a "q" <b>.mp4'
HOSTILE_TITLE = 'a "q" <b>'
SOURCES = {
    "clip": "clip.mp4",
    "mp3": "audio/tone.mp3",
    "flv": "videos/bars and tone.flv",
    "unicode": f"videos/2026/{UNICODE_NAME}",
    "hostile": HOSTILE_NAME,
    "quicktime": "quicktime.mov",
}
# What Chromium plays from an item's own file. FLV plays only through an MP4 source beside it.
PLAYABLE = {"video/mp4", "audio/mpeg", "video/quicktime"}

# Start playback without waiting on the promise (a source the browser cannot play leaves it
# pending forever); the outcome is read by a bounded wait instead.
START = """() => {
    const media = document.querySelector(".media");
    window.__playError = "";
    if (media instanceof HTMLVideoElement) media.muted = true;
    media.play().catch((error) => { window.__playError = String(error); });
}"""
PLAYED_OR_FAILED = """(seconds) => {
    const media = document.querySelector(".media");
    const noSource = media.networkState === HTMLMediaElement.NETWORK_NO_SOURCE;
    return media.currentTime > seconds || media.error !== null || window.__playError !== ""
        || noSource;
}"""
NO_SOURCE = """() =>
    document.querySelector(".media").networkState === HTMLMediaElement.NETWORK_NO_SOURCE"""
SCROLL_SIZE = """() => {
    const page = document.scrollingElement;
    return [page.scrollWidth, page.scrollHeight];
}"""
STATE = """() => {
    const media = document.querySelector(".media");
    return {
        currentTime: media.currentTime,
        currentSrc: media.currentSrc,
        networkState: media.networkState,
        error: media.error && `${media.error.code} ${media.error.message}`,
        playError: window.__playError,
        videoWidth: media instanceof HTMLVideoElement ? media.videoWidth : null,
    };
}"""


def need_browser() -> None:
    """Playwright for Python and the system Chromium, or skip (fail in CI)."""
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("playwright (pip install -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        unavailable(f"needs {', '.join(missing)}")


def need_http_edge(stack: LocalStack) -> None:
    if not stack.http_available:
        unavailable("needs nginx for the local HTTP edge (bash scripts/install-system-deps)")


def copy_media(folder: Path) -> Path:
    """sample_media plus a nested unicode-named copy, a hostile name and a QuickTime name."""
    shutil.copytree(SAMPLES, folder, ignore=shutil.ignore_patterns("*.md", "*.sh"))
    (folder / "videos" / "2026").mkdir()
    for name in (SOURCES["unicode"], SOURCES["hostile"], SOURCES["quicktime"]):
        shutil.copy(SAMPLES / "clip.mp4", folder / name)
    return folder


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def published(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One publish for the module, in-process on the shared stack; its manifest."""
    from pipeline.local import cloudfront

    need_http_edge(stack)
    # What conftest's autouse fixture does per test: other modules install registries of their
    # own, so give the shared stack its edges back before this module's publish.
    cloudfront.install(stack.edges, deploy_seconds=0)
    root = tmp_path_factory.mktemp("browser")
    media = copy_media(root / "media in")
    buckets = {"streaming": unique("media"), "player": unique("player")}
    ctx = build_context(settings_for(root, buckets), local=stack)
    try:
        result = publisher.publish(ctx, [media])
    finally:
        ctx.close()
    assert not result.failed, result.failed
    manifest: dict[str, Any] = result.manifest
    assert sorted(i["source"] for i in manifest["items"]) == sorted(SOURCES.values())
    return manifest


class Tab:
    """A fresh browser context and page that records every console error, page error and
    failed response while it is open."""

    def __init__(self, browser: Browser) -> None:
        self.context = browser.new_context(viewport={"width": 1000, "height": 700})
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text} ({message.location})")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def open(self, url: str) -> Page:
        reply = self.page.goto(url, wait_until="load")
        assert reply is not None and reply.status == 200, url
        return self.page

    def assert_clean(self) -> None:
        assert self.problems == []

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(chromium: Browser) -> Iterator[Tab]:
    opened = Tab(chromium)
    yield opened
    opened.close()


def item(manifest: dict[str, Any], which: str) -> dict[str, Any]:
    return next(i for i in manifest["items"] if i["source"] == SOURCES[which])


def site_url(manifest: dict[str, Any], path: str) -> str:
    """Page URLs are the index URL with `index.html` replaced by the page's path."""
    index: str = manifest["index_url"]
    assert index.endswith("/index.html")
    return index.removesuffix("index.html") + path


def plays(page: Page | Frame) -> dict[str, Any]:
    """Start the page's media element and wait until its clock passes PLAYED_SECONDS."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    media = page.locator(".media")
    assert media.is_visible(), f"the player is not on screen: {media.bounding_box()}"
    page.evaluate(START)
    try:
        page.wait_for_function(PLAYED_OR_FAILED, arg=PLAYED_SECONDS, timeout=TIMEOUT_MS)
        timed_out = False
    except PlaywrightTimeout:
        timed_out = True
    state: dict[str, Any] = page.evaluate(STATE)
    assert not timed_out, f"not playing after {TIMEOUT_MS} ms: {state}"
    assert state["networkState"] != 3, f"no source the browser can play: {state}"
    assert state["error"] is None and state["playError"] == "", state
    assert state["currentTime"] > PLAYED_SECONDS, state
    if state["videoWidth"] is not None:
        assert state["videoWidth"] > 0, state  # frames were decoded, not only sound
    return state


def plays_in_browser(page: Page, entry: dict[str, Any]) -> bool:
    """Whether the page offers the browser something it plays: the item itself, or for FLV an
    MP4 (or HLS) source beside it."""
    if entry["content_type"] in PLAYABLE:
        return True
    sources = page.locator(
        '.media source[type="video/mp4"], .media source[type="application/vnd.apple.mpegurl"]'
    )
    return sources.count() > 0


def expected_src(entry: dict[str, Any]) -> str:
    """What the browser picks: HLS when published (Chromium plays it), else the MP4 or file."""
    return str(entry.get("hls_url") or entry.get("play_url") or entry["http_url"])


def test_index_lists_every_item(published: dict[str, Any], tab: Tab) -> None:
    page = tab.open(published["index_url"])
    links = page.locator("table.items a")
    assert links.all_text_contents() == [i["title"] for i in published["items"]]
    hrefs = links.evaluate_all("links => links.map(a => a.href)")
    assert hrefs == [site_url(published, i["page"]) for i in published["items"]]
    posters = page.locator("img.poster")
    assert posters.count() == sum(1 for i in published["items"] if i.get("poster_url"))
    for poster in posters.all():
        poster.scroll_into_view_if_needed()
        poster.wait_for(state="visible")
        loaded = poster.evaluate(
            "img => img.decode().then(() => img.naturalWidth > 0, () => false)"
        )
        assert loaded, poster.get_attribute("src")
    tab.assert_clean()


@pytest.mark.parametrize("which", list(SOURCES))
def test_item_page_plays_and_shows_the_rtmp_url(
    published: dict[str, Any], tab: Tab, which: str
) -> None:
    entry = item(published, which)
    page = tab.open(site_url(published, entry["page"]))
    assert page.locator("h1").text_content() == entry["title"]
    assert entry["rtmp_url"]
    assert page.input_value("input.rtmp-url") == entry["rtmp_url"]
    assert page.locator("a", has_text="All media").get_attribute("href") == "../index.html"
    if plays_in_browser(page, entry):
        state = plays(page)
        assert state["currentSrc"] == expected_src(entry)
    else:
        assert entry["content_type"] == "video/x-flv"
        note = page.locator(".notice", has_text="FLV does not play in browsers")
        assert note.is_visible()
    tab.assert_clean()


def test_copy_button_copies_the_rtmp_url(published: dict[str, Any], tab: Tab) -> None:
    entry = item(published, "hostile")
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = tab.open(site_url(published, entry["page"]))
    button = page.locator("input.rtmp-url + button.copy")
    button.click()
    page.wait_for_function("b => b.classList.contains('copied')", arg=button.element_handle())
    assert page.evaluate("() => navigator.clipboard.readText()") == entry["rtmp_url"]
    tab.assert_clean()


@pytest.mark.parametrize("which", list(SOURCES))
def test_embed_page_plays(published: dict[str, Any], tab: Tab, which: str) -> None:
    entry = item(published, which)
    tab.page.set_viewport_size({"width": EMBED_WIDTH, "height": EMBED_HEIGHT})
    page = tab.open(site_url(published, entry["embed"]))
    assert page.locator(".media").count() == 1
    # The player fills the iframe the embed code makes, without scroll bars.
    assert page.evaluate(SCROLL_SIZE) == [EMBED_WIDTH, EMBED_HEIGHT]
    if plays_in_browser(page, entry):
        state = plays(page)
        assert state["currentSrc"] == expected_src(entry)
    else:
        # Nothing the browser can play: it says so rather than showing a silent black box.
        page.wait_for_function(NO_SOURCE)
        assert page.locator(".notice", has_text="FLV does not play in browsers").is_visible()
    tab.assert_clean()


def test_iframe_snippet_plays_in_another_page(published: dict[str, Any], tab: Tab) -> None:
    """The embed code from an item page, pasted into someone else's page, plays there."""
    entry = item(published, "unicode")
    code = tab.open(site_url(published, entry["page"])).input_value("textarea.snippet")
    tab.page.set_content(f"<!doctype html><title>Elsewhere</title><p>A post</p>{code}")
    frame = tab.page.frame(url=site_url(published, entry["embed"]))
    assert frame is not None, [f.url for f in tab.page.frames]
    assert frame.evaluate(SCROLL_SIZE) == [EMBED_WIDTH, EMBED_HEIGHT]
    state = plays(frame)
    assert state["currentSrc"] == expected_src(entry)
    tab.assert_clean()


def test_hostile_title_renders_as_text(published: dict[str, Any], tab: Tab) -> None:
    entry = item(published, "hostile")
    assert entry["title"] == HOSTILE_TITLE
    page = tab.open(published["index_url"])
    assert page.locator("table.items a", has_text=HOSTILE_TITLE).count() == 1
    assert page.locator("b").count() == 0

    page = tab.open(site_url(published, entry["page"]))
    assert page.title() == f"{HOSTILE_TITLE} - Media"
    assert page.locator("h1").text_content() == HOSTILE_TITLE
    assert page.locator("b").count() == 0
    copy_button = page.locator("input.rtmp-url + button.copy")
    assert copy_button.get_attribute("data-copy") == entry["rtmp_url"]
    # The embed code, pasted into another page, is one iframe with the title as an attribute.
    pasted = page.evaluate(
        """() => {
            const code = document.querySelector("textarea.snippet").value;
            const doc = new DOMParser().parseFromString(code, "text/html");
            return Array.from(doc.body.children).map(e => [e.tagName, e.title, e.src]);
        }"""
    )
    assert pasted == [["IFRAME", HOSTILE_TITLE, site_url(published, entry["embed"])]]

    page = tab.open(site_url(published, entry["embed"]))
    assert page.title() == HOSTILE_TITLE
    assert page.locator("b").count() == 0
    tab.assert_clean()


def test_hls_plays_when_enabled(make_context: Any, tab: Tab, tmp_path: Path) -> None:
    """With `[hls] enabled = true` pages offer HLS first; Chromium takes it when it can."""
    need("ffmpeg")
    media = tmp_path / "hls media"
    media.mkdir()
    shutil.copy(SAMPLES / "clip.mp4", media / "clip.mp4")
    shutil.copy(SAMPLES / "videos" / "bars and tone.flv", media / "bars and tone.flv")
    manifest = publisher.publish(make_context(**{"hls.enabled": True}), [media]).manifest
    assert len(manifest["items"]) == 2
    for entry in manifest["items"]:
        assert entry["hls_url"], entry
        page = tab.open(site_url(manifest, entry["page"]))
        native_hls = page.evaluate(
            "() => document.createElement('video').canPlayType('application/vnd.apple.mpegurl')"
        )
        state = plays(page)
        assert state["currentSrc"] == (entry["hls_url"] if native_hls else entry["play_url"])
    tab.assert_clean()


def test_pages_play_without_javascript(published: dict[str, Any], chromium: Browser) -> None:
    """Page scripts off: the basic <video> still plays (the test drives it through the
    browser's automation channel, which stays available), and the URLs are all there."""
    context = chromium.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        entry = item(published, "clip")
        page.goto(site_url(published, entry["page"]), wait_until="load")
        assert page.locator("input.rtmp-url").input_value() == entry["rtmp_url"]
        assert page.locator("video.media source").first.get_attribute("src") == entry["play_url"]
        # wait_for_function needs page scripts; poll the element's state instead.
        page.evaluate(START)
        deadline, pause = time.monotonic() + TIMEOUT_MS / 1000, threading.Event()
        state: dict[str, Any] = page.evaluate(STATE)
        while state["currentTime"] <= PLAYED_SECONDS and time.monotonic() < deadline:
            pause.wait(0.1)
            state = page.evaluate(STATE)
        assert state["currentTime"] > PLAYED_SECONDS and state["error"] is None, state
        assert state["currentSrc"] == expected_src(entry) and state["videoWidth"] > 0, state
    finally:
        context.close()


def test_oembed_html_plays_in_another_page(published: dict[str, Any], tab: Tab) -> None:
    """A consumer finds the oEmbed URL on the item page, fetches it from the download edge and
    pastes its `html` into its own page: the embed page plays there."""
    entry = item(published, "clip")
    page = tab.open(site_url(published, entry["page"]))
    href = page.locator('link[rel="alternate"][type="application/json+oembed"]').get_attribute(
        "href"
    )
    embed = site_url(published, entry["embed"])
    assert href == embed.replace("/embed/", "/oembed/").removesuffix(".html") + ".json"
    reply = tab.context.request.get(href)
    assert reply.status == 200 and reply.headers["content-type"].startswith("application/json")
    oembed: dict[str, Any] = reply.json()
    assert (oembed["version"], oembed["type"], oembed["title"]) == ("1.0", "video", entry["title"])
    assert oembed.get("thumbnail_url", "") == entry["poster_url"]
    tab.page.set_content(f"<!doctype html><title>Elsewhere</title><p>A post</p>{oembed['html']}")
    frame = tab.page.frame(url=embed)
    assert frame is not None, [f.url for f in tab.page.frames]
    assert frame.evaluate(SCROLL_SIZE) == [oembed["width"], oembed["height"]]
    state = plays(frame)
    assert state["currentSrc"] == expected_src(entry)
    tab.assert_clean()
