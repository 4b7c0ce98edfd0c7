"""Measure rendering the player site from the state store: a first full render of N items, and
a re-render after one item's title changed, as `mediapub render` and the watcher do it.

The state store is populated through its public API (`open_store`, `put_infra`, `put_item`)
in a fresh temporary folder; the figures are medians of `--rounds` runs, each on a fresh
folder. Prints one JSON object on stdout:
{"items": N, "full_render_s": ..., "rerender_one_s": ..., ...}

Usage: python bench/render_bench.py [--items 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline import publisher, site, sitebuild  # noqa: E402
from pipeline.config import Settings, load_settings  # noqa: E402
from pipeline.context import Context, NullProgress  # noqa: E402
from pipeline.state import PUBLISHED, InfraRecord, Item, SQLiteStateStore, open_store  # noqa: E402

KINDS = (
    ("video/mp4", "video", "mp4:{key}", ".mp4"),
    ("audio/mpeg", "audio", "mp3:{stem}", ".mp3"),
    ("video/x-flv", "video", "{stem}", ".flv"),
)


def make_item(n: int) -> Item:
    content_type, kind, stream, ext = KINDS[n % len(KINDS)]
    stem = f'media/show {n // 100:03d}/clip <{n:05d}> & "ü"'
    key = stem + ext
    item = Item(
        key=key,
        bucket="mediapub-media",
        source=key.removeprefix("media/"),
        source_path="/drop/" + key,
        size=200_000 + n,
        sha256=f"{n:064x}",
        content_type=content_type,
        kind=kind,
        stream_name=stream.format(key=key, stem=stem),
        title=f"Clip {n} <b>&amp;</b>",
        state=PUBLISHED,
        published_at="2026-11-30T00:00:00Z",
        probe={"duration": 4.0 + n % 600, "width": 640, "height": 360} if kind == "video" else {},
    )
    if n % 5 == 0 and kind == "video":
        item.extras = {"poster": key + ".poster.jpg"}
    return item


def populate(settings: Settings, store: SQLiteStateStore, items: int) -> None:
    """Infrastructure records and `items` published items, with the URLs a render stores."""
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
    info = site.SiteInfo.from_store(settings, store, None)
    for n in range(items):
        item = make_item(n)
        item.rtmp_url, item.http_url = info.rtmp_url(item.stream_name), info.http_url(item.key)
        store.put_item(item)


def timed(ctx: Context) -> tuple[float, float]:
    """Wall and CPU seconds of one `publisher.render`."""
    wall, cpu = time.perf_counter(), time.process_time()
    publisher.render(ctx)
    return time.perf_counter() - wall, time.process_time() - cpu


def one_round(items: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="mediapub-render-bench-") as folder:
        settings = load_settings(cwd=Path(folder), env={})
        store = open_store(settings.state_dir)
        try:
            sitebuild.forget()
            populate(settings, store, items)
            ctx = Context(settings, None, None, store, endpoint_url=None, progress=NullProgress())
            full = timed(ctx)

            changed = store.get_item(make_item(items // 2).key)
            assert changed is not None
            changed.title += " (edited)"
            store.put_item(changed)
            rerender = timed(ctx)

            unchanged = timed(ctx)

            # As `mediapub render` in a new process: only the fingerprints on disk are known.
            sitebuild.forget()
            changed.title += " again"
            store.put_item(changed)
            cold = timed(ctx)
        finally:
            store.close()
    figures: dict[str, float] = {}
    for name, (wall, cpu) in (
        ("full_render", full),
        ("rerender_one", rerender),
        ("rerender_none", unchanged),
        ("rerender_one_new_process", cold),
    ):
        figures[f"{name}_s"], figures[f"{name}_cpu_s"] = wall, cpu
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = [one_round(args.items) for _ in range(args.rounds)]
    result: dict[str, Any] = {"items": args.items, "rounds": args.rounds}
    for name in rounds[0]:
        result[name] = round(statistics.median(r[name] for r in rounds), 4)
        result[name.replace("_s", "_all_s")] = [round(r[name], 4) for r in rounds]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
