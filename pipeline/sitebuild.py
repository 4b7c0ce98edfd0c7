"""Incremental site rendering: every page has a fingerprint of its inputs, and only pages whose
fingerprint changed are rendered and written.

A per-item page's inputs are the item's view (`site.item_view`, which holds every URL the page
shows), the site-level values (`SiteInfo`, the common template variables) and the template
sources; an index page's are the views of its items and the page numbering. Fingerprints are
kept beside the site in `.mediapub-render.json`, so a new process skips unchanged pages too; a
long-running one (the watcher) also keeps each item's view and manifest entry in memory while
the item and the `SiteInfo` stay equal. A file that is missing is always written again, and a
file is only replaced when its bytes differ.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from pipeline import __version__, site
from pipeline.config import Settings
from pipeline.state import PUBLISHED, Item, StateStore

log = logging.getLogger(__name__)

FINGERPRINTS = ".mediapub-render.json"
# Bumped when the rendering code changes what it writes for the same inputs.
RENDER_FORMAT = 1
INDEX_PAGE_SIZE = 100
INDEX_PAGES_FOLDER = "pages"
ITEM_FOLDERS = {"items": ".html", "embed": ".html", "oembed": ".json"}


@dataclass
class Built:
    """What one render produced: the manifest, the published items with their views, and the
    files it (re)wrote."""

    manifest: dict[str, Any]
    items: list[Item]
    views: list[dict[str, Any]]
    written: list[Path] = field(default_factory=list)


@dataclass
class _Entry:
    """One item as last rendered in this process."""

    item: Item
    view: dict[str, Any]
    fingerprint: str
    manifest_json: str
    absolute_urls: dict[str, str]
    sitemap_url: str = ""  # the item's entry in sitemap.xml, once rendered


@dataclass
class _Memory:
    info: site.SiteInfo | None = None
    site_digest: str = ""
    entries: dict[str, _Entry] = field(default_factory=dict)


_memory: dict[Path, _Memory] = {}
_memory_lock = threading.Lock()


def forget() -> None:
    """Drop what this process remembers of earlier renders (the next one starts cold)."""
    with _memory_lock:
        _memory.clear()


def build(settings: Settings, info: site.SiteInfo, store: StateStore) -> Built:
    """Bring `settings.site_dir` up to date with the state store; return what was built."""
    root = settings.site_dir.resolve()
    with _memory_lock:
        memory = _memory.setdefault(root, _Memory())
        return _Build(settings, info, root, memory).run(store)


def _digest(*parts: str) -> str:
    text = "\0".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def _template_digest(env: Any) -> str:
    """A digest of every template source the environment can load, in search order."""
    digest = hashlib.blake2b(digest_size=16)
    for folder in env.loader.searchpath:
        base = Path(folder)
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(base)).encode("utf-8", "surrogatepass") + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _stable_info(info: site.SiteInfo) -> str:
    """`SiteInfo` as text, without the records' update times (which no page shows)."""
    records = {
        name: dataclasses.replace(record, updated_at="")
        for name in ("download", "streaming")
        if (record := getattr(info, name)) is not None
    }
    return repr(dataclasses.replace(info, **records))


class _Snippets(Mapping[str, str]):
    """An item's embed snippets, each rendered when a template first asks for it."""

    def __init__(self, env: Any, info: site.SiteInfo, view: dict[str, Any]) -> None:
        self._env, self._info, self._view = env, info, view
        self._done: dict[str, str] = {}

    def __getitem__(self, fmt: str) -> str:
        if fmt not in site.SNIPPET_FORMATS:
            raise KeyError(fmt)
        if fmt not in self._done:
            self._done[fmt] = site.snippet(self._env, self._info, self._view, fmt)
        return self._done[fmt]

    def __iter__(self) -> Iterator[str]:
        return iter(site.SNIPPET_FORMATS)

    def __len__(self) -> int:
        return len(site.SNIPPET_FORMATS)


class _Build:
    """One render of one site folder."""

    def __init__(
        self, settings: Settings, info: site.SiteInfo, root: Path, memory: _Memory
    ) -> None:
        self.info = info
        self.root = root
        self.memory = memory
        self.env = site.environment(settings.site.templates)
        self.common = {
            "site": info,
            "site_title": info.title,
            "player_css": info.site_url("player/player.css"),
            "player_js": info.site_url(info.player_key),
            "streamer": info.streamer,
        }
        self._item_template = self.env.get_template("item.html")
        self._embed_template = self.env.get_template("embed.html")
        self._index_template = self.env.get_template("index.html")
        self.site_digest = _digest(
            str(RENDER_FORMAT), __version__, _template_digest(self.env), _stable_info(info)
        )
        self.old = self._load_fingerprints()
        self.new: dict[str, dict[str, str]] = {"items": {}, "pages": {}}
        folders = (*ITEM_FOLDERS, INDEX_PAGES_FOLDER)
        self.existing = {folder: self._names(folder) for folder in folders}
        self.written: list[Path] = []
        self.folders: set[str] = set()  # made sure to exist in this render

    # -- the phases --------------------------------------------------------------------------

    def run(self, store: StateStore) -> Built:
        items = store.items_in(PUBLISHED)
        entries = [self._entry(item) for item in items]
        self.memory.info, self.memory.site_digest = self.info, self.site_digest
        self.memory.entries = {entry.item.key: entry for entry in entries}
        for entry in entries:
            self._item_pages(entry)
        views = [entry.view for entry in entries]
        self._index_pages(entries)
        everything = _digest(self.site_digest, *(entry.fingerprint for entry in entries))
        self._page("sitemap.xml", everything, lambda: self._sitemap(entries))
        manifest = site.manifest(self.info, [])
        self._page("manifest.json", None, lambda: self._manifest_text(manifest, entries))
        self._remove_stale()
        self._save_fingerprints()
        manifest["items"] = [site.manifest_item(view) for view in views]
        return Built(manifest, items, views, self.written)

    def _entry(self, item: Item) -> _Entry:
        """The item's view and manifest entry: remembered when nothing they depend on changed."""
        known = self.memory.entries.get(item.key)
        if (
            known is not None
            and known.item == item
            and self.memory.site_digest == self.site_digest
            and self.memory.info == self.info
        ):
            return known
        view = site.item_view(self.info, item)
        fingerprint = _digest(self.site_digest, repr(sorted(view.items())))
        # Indented as json.dumps(manifest, indent=2) places it inside the items list.
        text = json.dumps(site.manifest_item(view), indent=2, ensure_ascii=False)
        manifest_json = "    " + text.replace("\n", "\n    ")
        return _Entry(item, view, fingerprint, manifest_json, site.absolute_urls(self.info, view))

    def _item_pages(self, entry: _Entry) -> None:
        view = entry.view
        slug = view["page"].removeprefix("items/").removesuffix(".html")
        self.new["items"][slug] = entry.fingerprint
        if self.old["items"].get(slug) == entry.fingerprint and all(
            slug + suffix in self.existing[folder] for folder, suffix in ITEM_FOLDERS.items()
        ):
            return
        snippets = _Snippets(self.env, self.info, view)
        self._write(
            view["page"],
            self._item_template.render(
                item=view, snippets=snippets, root="../", **self.common, **entry.absolute_urls
            ),
        )
        self._write(
            view["embed"], self._embed_template.render(item=view, root="../", **self.common)
        )
        self._write(view["oembed"], snippets["oembed"] + "\n")

    def _index_pages(self, entries: list[_Entry]) -> None:
        chunks = [
            entries[start : start + INDEX_PAGE_SIZE]
            for start in range(0, len(entries), INDEX_PAGE_SIZE)
        ] or [[]]
        paths = [index_page_path(n) for n in range(1, len(chunks) + 1)]
        for number, (path, chunk) in enumerate(zip(paths, chunks, strict=True), start=1):
            fingerprint = _digest(
                self.site_digest, str(number), *paths, *(e.fingerprint for e in chunk)
            )
            root = "" if number == 1 else "../"
            pages = [
                {"number": n, "path": p, "current": n == number}
                for n, p in enumerate(paths, start=1)
            ]
            self._page(
                path,
                fingerprint,
                lambda chunk=chunk, root=root, pages=pages: self._index_template.render(
                    items=[e.view for e in chunk], root=root, pages=pages, **self.common
                ),
            )

    def _sitemap(self, entries: list[_Entry]) -> str:
        entry_template = self.env.get_template("_sitemap_url.xml")
        items = [{**entry.view, **entry.absolute_urls} for entry in entries]
        for entry, item in zip(entries, items, strict=True):
            if not entry.sitemap_url:
                entry.sitemap_url = Markup(entry_template.render(item=item))
        return str(
            self.env.get_template("sitemap.xml").render(
                items=items,
                urls=[entry.sitemap_url for entry in entries],
                index_url=self.info.site_url("index.html"),
            )
        )

    @staticmethod
    def _manifest_text(manifest: dict[str, Any], entries: list[_Entry]) -> str:
        """The manifest as `json.dumps(..., indent=2)` writes it, from the items' entries."""
        head = json.dumps(manifest, indent=2, ensure_ascii=False)
        if not entries:
            return head + "\n"
        assert head.endswith('"items": []\n}')
        body = ",\n".join(entry.manifest_json for entry in entries)
        return head.removesuffix("[]\n}") + "[\n" + body + "\n  ]\n}\n"

    # -- pages, files and fingerprints ----------------------------------------------------

    def _page(self, path: str, fingerprint: str | None, render: Any) -> None:
        """Render and write a site-wide page unless its fingerprint says it is unchanged."""
        if fingerprint is not None:
            self.new["pages"][path] = fingerprint
            exists = (self.root / path).is_file()
            if exists and self.old["pages"].get(path) == fingerprint:
                return
        self._write(path, str(render()))

    def _names(self, folder: str) -> set[str]:
        try:
            with os.scandir(self.root / folder) as found:
                return {entry.name for entry in found}
        except OSError:
            return set()

    def _write(self, relative: str, text: str) -> None:
        """Write `text` unless the file holds it already; replace existing files atomically."""
        folder, _, name = relative.rpartition("/")
        if folder not in ("", *ITEM_FOLDERS, INDEX_PAGES_FOLDER) or name in ("", ".", ".."):
            raise ValueError(f"site path {relative!r} leaves the site folder")
        if folder not in self.folders:
            (self.root / folder).mkdir(parents=True, exist_ok=True)
            self.folders.add(folder)
        target = self.root / relative
        data = text.encode("utf-8")
        try:
            with open(target, "rb") as current:
                if current.read() == data:
                    return
        except FileNotFoundError:
            target.write_bytes(data)  # a new file: nothing to keep whole meanwhile
            self.written.append(target)
            return
        except OSError:
            pass
        temp = target.with_name(f".{name}.tmp")
        temp.write_bytes(data)
        os.replace(temp, target)
        self.written.append(target)

    def _remove_stale(self) -> None:
        """Remove the pages of items no longer published and index pages no longer needed."""
        for folder, suffix in ITEM_FOLDERS.items():
            for name in self.existing[folder]:
                if name.endswith(suffix) and name.removesuffix(suffix) not in self.new["items"]:
                    (self.root / folder / name).unlink(missing_ok=True)
        for name in self.existing[INDEX_PAGES_FOLDER]:
            if f"{INDEX_PAGES_FOLDER}/{name}" not in self.new["pages"] and name.endswith(".html"):
                (self.root / INDEX_PAGES_FOLDER / name).unlink(missing_ok=True)

    def _load_fingerprints(self) -> dict[str, dict[str, str]]:
        empty: dict[str, dict[str, str]] = {"items": {}, "pages": {}}
        try:
            data = json.loads((self.root / FINGERPRINTS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return empty
        if not isinstance(data, dict) or data.get("format") != RENDER_FORMAT:
            return empty
        return {k: dict(data.get(k) or {}) for k in empty}

    def _save_fingerprints(self) -> None:
        data = json.dumps({"format": RENDER_FORMAT, **self.new}, separators=(",", ":"))
        temp = self.root / f".{FINGERPRINTS}.tmp"
        temp.write_text(data, encoding="utf-8")
        os.replace(temp, self.root / FINGERPRINTS)


def index_page_path(number: int) -> str:
    """The site path of index page `number`: `index.html`, then `pages/2.html`, ..."""
    return "index.html" if number == 1 else f"{INDEX_PAGES_FOLDER}/{number}.html"
