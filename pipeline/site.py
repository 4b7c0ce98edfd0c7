"""The rendered site: one Jinja environment, the index, item and embed pages, snippets, manifest.

Everything is rendered from the state store, so `mediapub render` needs no network. File names
and titles are untrusted: every template is autoescaped, JSON goes through `tojson`, URLs are
percent-encoded before they reach a template, and page paths are slugs that cannot leave the
site folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import urls
from pipeline.config import Settings
from pipeline.errors import InputError
from pipeline.signing import UrlSigner, flash_escaped
from pipeline.state import PUBLISHED, InfraRecord, Item, StateStore

if TYPE_CHECKING:
    from pipeline.sitebuild import Built

log = logging.getLogger(__name__)

# Top-level names the site uses inside the player bucket (made public, uploaded).
SITE_PREFIXES = [
    "index.html", "pages/", "items/", "embed/", "oembed/", "manifest.json", "sitemap.xml",
]  # fmt: skip
SNIPPET_FORMATS = ("iframe", "html", "jwplayer", "json", "oembed")
EMBED_WIDTH, EMBED_HEIGHT = 640, 360


def bundled_templates() -> Path:
    """The templates shipped with mediapub: inside the wheel, or the source tree's `templates/`."""
    here = Path(__file__).resolve().parent
    installed = here / "templates"
    return installed if installed.is_dir() else here.parent / "templates"


def environment(user_templates: str | Path = "") -> Any:
    """The one Jinja environment: the user's folder first, the bundled templates last."""
    import jinja2

    search = [str(Path(user_templates).expanduser())] if user_templates else []
    search.append(str(bundled_templates()))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # One environment per render: no template changes while it lives, so no stat per use.
        auto_reload=False,
    )
    env.filters["filesize"] = _filesize
    env.filters["duration"] = _duration
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
    return env


def _filesize(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} bytes"


def _duration(seconds: float | None) -> str:
    if not seconds:
        return ""
    total = round(seconds)
    return (
        f"{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"
        if total >= 3600
        else (f"{total // 60}:{total % 60:02d}")
    )


def item_slug(key: str) -> str:
    """A file-system and URL safe page name for an object key, unique per key."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip("-.")[:80] or "item"
    return f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


@dataclass
class SiteInfo:
    """Infrastructure as the site shows it, read from the state store."""

    target: str
    endpoint_url: str | None
    streaming_bucket: str
    player_bucket: str
    download: InfraRecord | None
    streaming: InfraRecord | None
    rtmp_refusal: str = ""
    player_key: str = "player/player.js"
    https: bool = True
    title: str = "Media"
    delivery: tuple[str, ...] = ("rtmp", "http")
    warnings: list[str] = field(default_factory=list)
    # Private streaming: URLs of keys under `private_prefix` are signed by `signer`.
    signer: UrlSigner | None = None
    private_prefix: str = ""

    @classmethod
    def from_store(
        cls,
        settings: Settings,
        store: StateStore,
        endpoint_url: str | None,
        signer: UrlSigner | None = None,
    ) -> SiteInfo:
        """`signer`: the one to sign private URLs with (default: a fresh one from the
        settings when streaming.private is on)."""
        if settings.streaming.private and signer is None:
            signer = UrlSigner.from_settings(settings)
        download = store.get_infra("download_distribution")
        streaming = store.get_infra("streaming_distribution") if settings.rtmp else None
        refusal = store.get_infra("rtmp_refusal") if settings.rtmp else None
        player = store.get_infra("player_entry")
        endpoint = store.get_infra("endpoint")
        return cls(
            target=settings.target,
            endpoint_url=endpoint_url or (endpoint.resource_id if endpoint else None) or None,
            streaming_bucket=settings.streaming.bucket,
            player_bucket=settings.player.bucket,
            download=download,
            streaming=None if refusal and not streaming else streaming,
            rtmp_refusal=str(refusal.data.get("message", "")) if refusal and not streaming else "",
            player_key=player.resource_id if player else "player/player.js",
            https=bool(download.data.get("https", settings.player.https)) if download else False,
            title=settings.site.title,
            delivery=settings.delivery,
            signer=signer if settings.streaming.private else None,
            private_prefix=settings.streaming.prefix,
        )

    @property
    def download_domain(self) -> str:
        return self.download.domain if self.download else ""

    @property
    def rtmp_domain(self) -> str:
        if not self.streaming:
            return ""
        cnames = self.streaming.data.get("cnames") or []
        return str(cnames[0]) if cnames else self.streaming.domain

    @property
    def streamer(self) -> str:
        return urls.rtmp_streamer(self.rtmp_domain) if self.rtmp_domain else ""

    def site_url(self, path: str) -> str:
        return urls.site_url(self.download_domain, path, self.https) if self.download else ""

    def http_url(self, key: str) -> str:
        if not self.download:
            return ""
        url = urls.http_url(self.download_domain, key, self.https)
        if self.signer is not None and key.startswith(self.private_prefix):
            return self.signer.sign(url)
        return url

    def rtmp_stream(self, stream_name: str) -> str:
        """The URL-encoded stream name, signed for private streaming."""
        stream = urls.rtmp_stream(stream_name)
        return self.signer.sign_stream(stream) if self.signer is not None else stream

    def rtmp_url(self, stream_name: str) -> str:
        if not self.rtmp_domain:
            return ""
        return f"{urls.rtmp_streamer(self.rtmp_domain)}/{self.rtmp_stream(stream_name)}"

    @property
    def expires_at(self) -> str:
        """When signed URLs stop working (ISO 8601, UTC), or "" when nothing is signed."""
        if self.signer is None:
            return ""
        return self.signer.expires_at.isoformat().replace("+00:00", "Z")

    def crossdomain_url(self) -> str:
        return self.site_url("crossdomain.xml")


def item_view(info: SiteInfo, item: Item) -> dict[str, Any]:
    """One item as the manifest and the templates see it."""
    slug = item_slug(item.key)
    rtmp = info.rtmp_url(item.stream_name)
    stream = info.rtmp_stream(item.stream_name)
    return {
        "source": item.source,
        "bucket": item.bucket,
        "key": item.key,
        "size": item.size,
        "sha256": item.sha256,
        "content_type": item.content_type,
        "kind": item.kind,
        "stream_name": item.stream_name,
        "rtmp_stream": stream,
        # Flash-era players take a signed stream name escaped once more.
        "rtmp_stream_escaped": flash_escaped(stream) if info.signer is not None else stream,
        "rtmp_url": rtmp,
        "expires_at": info.expires_at,
        "http_url": info.http_url(item.key),
        # What browsers play: the MP4 remux of an FLV when there is one, else the item itself.
        "play_url": info.http_url(item.extras.get("mp4", item.key)),
        # Browsers skip a source typed video/quicktime although they play H.264/AAC .mov files.
        "play_type": (
            "video/mp4"
            if "mp4" in item.extras or item.content_type == "video/quicktime"
            else item.content_type
        ),
        "poster_url": info.http_url(item.extras["poster"]) if "poster" in item.extras else "",
        # A signed playlist does not sign its segments, so private items offer no HLS.
        "hls_url": (
            info.http_url(item.extras["hls"])
            if "hls" in item.extras and info.signer is None
            else ""
        ),
        "page": f"items/{slug}.html",
        "embed": f"embed/{slug}.html",
        "oembed": f"oembed/{slug}.json",
        "title": item.title,
        "published_at": item.published_at,
        "duration": item.probe.get("duration"),
        "width": item.probe.get("width"),
        "height": item.probe.get("height"),
    }


_MANIFEST_ITEM_KEYS = (
    "source", "bucket", "key", "size", "sha256", "content_type", "stream_name", "rtmp_url",
    "http_url", "play_url", "play_type", "poster_url", "hls_url", "page", "embed", "title",
    "published_at",
)  # fmt: skip


def manifest_item(view: dict[str, Any]) -> dict[str, Any]:
    """An item as manifest.json and the json snippet give it; signed items say when their
    URLs expire."""
    item = {k: view[k] for k in _MANIFEST_ITEM_KEYS}
    if view.get("expires_at"):
        item["expires_at"] = view["expires_at"]
    return item


def manifest(info: SiteInfo, views: Iterable[dict[str, Any]]) -> dict[str, Any]:
    streaming = info.streaming
    return {
        "target": info.target,
        "endpoint_url": info.endpoint_url or None,
        "buckets": {"streaming": info.streaming_bucket, "player": info.player_bucket},
        "streaming_distribution": (
            {
                "id": streaming.resource_id,
                "domain": streaming.domain,
                "status": streaming.status,
                "enabled": bool(streaming.data.get("enabled")),
                "cnames": list(streaming.data.get("cnames") or []),
                "price_class": streaming.data.get("price_class", ""),
                "streamer": info.streamer,
            }
            if streaming
            else None
        ),
        "rtmp_refusal": info.rtmp_refusal or None,
        "download_distribution": (
            {"id": info.download.resource_id, "domain": info.download.domain, "https": info.https}
            if info.download
            else None
        ),
        "crossdomain_url": info.crossdomain_url(),
        "player_url": info.site_url(info.player_key),
        "index_url": info.site_url("index.html"),
        "items": [manifest_item(view) for view in views],
    }


def oembed(env: Any, info: SiteInfo, view: dict[str, Any]) -> dict[str, Any]:
    """The oEmbed 1.0 response for one item: a video (or, for audio, rich) iframe embed."""
    data: dict[str, Any] = {
        "version": "1.0",
        "type": "rich" if view["kind"] == "audio" else "video",
        "provider_name": info.title,
        "provider_url": info.site_url("index.html"),
        "title": view["title"],
        "html": snippet(env, info, view, "iframe"),
        "width": EMBED_WIDTH,
        "height": EMBED_HEIGHT,
    }
    if view["poster_url"]:
        data["thumbnail_url"] = view["poster_url"]
        width, height = view["width"], view["height"]
        if width and height:
            # The poster is scaled as renditions.poster makes it: 640 wide at most, even height.
            thumb = min(640, int(width))
            data["thumbnail_width"] = thumb
            data["thumbnail_height"] = max(2, round(int(height) * thumb / int(width) / 2) * 2)
    return data


def snippet(env: Any, info: SiteInfo, view: dict[str, Any], fmt: str) -> str:
    """An embed snippet for one item: iframe, html, jwplayer, json or oembed."""
    if fmt == "json":
        return json.dumps(manifest_item(view), indent=2, ensure_ascii=False)
    if fmt == "oembed":
        return json.dumps(oembed(env, info, view), indent=2, ensure_ascii=False)
    template = env.get_template(f"snippets/{fmt}.html")
    return str(
        template.render(
            item=view,
            embed_url=info.site_url(view["embed"]),
            streamer=info.streamer,
            player_url=info.site_url(info.player_key),
            width=EMBED_WIDTH,
            height=EMBED_HEIGHT,
        )
    ).strip()


def published_views(info: SiteInfo, store: StateStore) -> list[dict[str, Any]]:
    return [item_view(info, item) for item in store.items() if item.state == PUBLISHED]


def render_site(settings: Settings, info: SiteInfo, store: StateStore) -> Built:
    """Bring the site in `settings.site_dir` up to date: render and write only the pages whose
    inputs changed (see `pipeline.sitebuild`); return the manifest, views and files written."""
    from pipeline import sitebuild

    return sitebuild.build(settings, info, store)


def absolute_urls(info: SiteInfo, view: dict[str, Any]) -> dict[str, str]:
    """The absolute URLs of an item's page, embed page and oEmbed file, for cards and sitemap."""
    return {
        "page_url": info.site_url(view["page"]),
        "embed_url": info.site_url(view["embed"]),
        "oembed_url": info.site_url(view["oembed"]),
        "embed_width": str(EMBED_WIDTH),
        "embed_height": str(EMBED_HEIGHT),
    }


_ITEM_FOLDERS = (("items", "*.html"), ("embed", "*.html"), ("oembed", "*.json"))


def site_files(root: Path) -> list[tuple[Path, str]]:
    """(file, key) for every site file to upload to the player bucket."""
    names = ["index.html", "manifest.json", "sitemap.xml"]
    files = [(root / n, n) for n in names if (root / n).is_file()]
    for folder, pattern in (("pages", "*.html"), *_ITEM_FOLDERS):
        files += [(p, f"{folder}/{p.name}") for p in sorted((root / folder).glob(pattern))]
    return files


def find_item(store: StateStore, name: str) -> Item:
    """A published item by key, source path, key without prefix, or title."""
    items = [i for i in store.items() if i.state == PUBLISHED]
    matchers: list[Callable[[Item], bool]] = [
        lambda i: i.key == name,
        lambda i: i.source == name,
        lambda i: i.key.endswith("/" + name),
        lambda i: i.title == name,
    ]
    for match in matchers:
        found = [i for i in items if match(i)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            keys = ", ".join(i.key for i in found)
            raise InputError(f"{name}: matches several items ({keys}). Give the full key.")
    raise InputError(
        f"{name}: no published item has this key, source path or title. "
        "Run `mediapub status` to list the items."
    )


def snippet_for(settings: Settings, store: StateStore, name: str, fmt: str) -> str:
    info = SiteInfo.from_store(settings, store, None)
    return snippet(
        environment(settings.site.templates), info, item_view(info, find_item(store, name)), fmt
    )
