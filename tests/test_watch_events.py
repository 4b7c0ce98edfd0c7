"""The drop-folder service in-process, with real files and a real watchdog observer: the ways
files arrive, the stability gate, ignored names, bursts, archive and re-publish."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.context import Context
from pipeline.state import PUBLISHED
from pipeline.watcher import FolderIntake, StabilityGate, WatchService, free_name, inotify_problem

from .conftest import SAMPLES

STABLE = 0.4
CLIP = (SAMPLES / "clip.mp4").read_bytes()
TONE = (SAMPLES / "audio" / "tone.mp3").read_bytes()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll `condition` until it holds or `timeout` passes; no bare sleeps."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if condition():
            return True
        pause.wait(0.05)
    return condition()


@dataclass
class Running:
    service: WatchService
    ctx: Context
    folder: Path
    thread: threading.Thread

    def published(self) -> dict[str, str]:
        return {i.source: i.sha256 for i in self.ctx.store.items() if i.state == PUBLISHED}

    def wait_published(self, sources: set[str], timeout: float = 30.0) -> None:
        assert wait_until(lambda: sources <= set(self.published()), timeout), (
            f"not published: {sources - set(self.published())}"
        )

    def publish_count(self, source: str) -> int:
        key = "media/" + source
        return sum(1 for state, _, _ in self.ctx.store.transitions(key) if state == PUBLISHED)

    def settle(self) -> None:
        """Wait until the service has nothing pending (gate, queue, retries)."""
        assert wait_until(self.service._idle, 30)


@pytest.fixture
def watch(make_context: Any, tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(**overrides: Any) -> Running:
        folder = tmp_path / "drop"
        folder.mkdir(exist_ok=True)
        values = {"watch.stable_seconds": STABLE, "watch.rescan_seconds": 30.0, **overrides}
        ctx = make_context(**values)
        service = WatchService(ctx, folder, backoff_seconds=0.2, render_delay=0.2)
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        assert service.ready.wait(30), "the service did not start"
        running = Running(service, ctx, folder, thread)
        started.append(running)
        return running

    yield start
    for running in started:
        running.service.stop()
        # The final site render of a big burst can take a while; the store closes only after.
        running.thread.join(180)
        assert not running.thread.is_alive(), "the watch service did not stop"


def public_bytes(running: Running, key: str) -> bytes:
    bucket = running.ctx.settings.streaming.bucket
    url = f"{running.ctx.endpoint_url}/{bucket}/{urllib.parse.quote(key)}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        return bytes(reply.read())


def test_slow_writer_is_published_once_after_it_finishes(watch: Any) -> None:
    running = watch()
    path = running.folder / "slow.mp4"
    pause = threading.Event()
    with path.open("wb") as handle:
        for start in range(0, len(CLIP), len(CLIP) // 8):
            handle.write(CLIP[start : start + len(CLIP) // 8])
            handle.flush()
            pause.wait(STABLE * 0.6)  # a writer slower than nothing, faster than the window
            assert "slow.mp4" not in running.published()
    running.wait_published({"slow.mp4"})
    assert running.published()["slow.mp4"] == hashlib.sha256(CLIP).hexdigest()
    assert public_bytes(running, "media/slow.mp4") == CLIP
    running.settle()
    assert running.publish_count("slow.mp4") == 1


def test_every_way_a_file_arrives(watch: Any, tmp_path: Path) -> None:
    running = watch()
    folder, outside = running.folder, tmp_path / "outside"
    outside.mkdir()
    # cp in
    shutil.copy(SAMPLES / "clip.mp4", folder / "copied.mp4")
    # mv in from outside the folder
    (outside / "moved.mp4").write_bytes(CLIP)
    os.rename(outside / "moved.mp4", folder / "moved.mp4")
    # a directory moved in
    (outside / "album" / "disc 1").mkdir(parents=True)
    (outside / "album" / "disc 1" / "track.mp3").write_bytes(TONE)
    os.rename(outside / "album", folder / "album")
    # browser and downloader temp names renamed into place
    (folder / "download.mp4.part").write_bytes(CLIP)
    os.rename(folder / "download.mp4.part", folder / "download.mp4")
    (folder / "chrome.mp4.crdownload").write_bytes(CLIP)
    os.rename(folder / "chrome.mp4.crdownload", folder / "chrome.mp4")
    # rsync's hidden temp name
    (folder / ".synced.flv.Xy12Ab").write_bytes(
        (SAMPLES / "videos" / "bars and tone.flv").read_bytes()
    )
    os.rename(folder / ".synced.flv.Xy12Ab", folder / "synced.flv")
    expected = {"copied.mp4", "moved.mp4", "album/disc 1/track.mp3", "download.mp4", "chrome.mp4",
                "synced.flv"}  # fmt: skip
    running.wait_published(expected)
    running.settle()
    assert set(running.published()) == expected
    assert all(running.publish_count(source) == 1 for source in expected)
    assert public_bytes(running, "media/album/disc 1/track.mp3") == TONE


def test_temp_files_and_ignored_names_are_never_uploaded(watch: Any) -> None:
    running = watch()
    folder = running.folder
    (folder / "gone.mp4.part").write_bytes(CLIP)
    (folder / "gone.mp4.part").unlink()  # deleted without a rename
    (folder / "half.mp4").write_bytes(CLIP)
    os.rename(folder / "half.mp4", folder / "half.mp4.tmp")  # renamed to an ignored name
    (folder / "~lock.mp4").write_bytes(CLIP)
    (folder / ".hidden.mp4").write_bytes(CLIP)
    (folder / "notes.txt").write_text("not matched by watch.patterns")
    (folder / "keeper.mp4").write_bytes(CLIP)  # the one file that counts
    running.wait_published({"keeper.mp4"})
    running.settle()
    assert set(running.published()) == {"keeper.mp4"}
    keys = {i.key for i in running.ctx.store.items()}
    assert keys == {"media/keeper.mp4"}


def test_symlinks_are_ignored(watch: Any, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.mp4"
    target.write_bytes(CLIP)
    running = watch()
    (running.folder / "link.mp4").symlink_to(target)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "inner.mp4").write_bytes(CLIP)
    (running.folder / "linkdir").symlink_to(tmp_path / "dir")
    (running.folder / "real.mp4").write_bytes(CLIP)
    running.wait_published({"real.mp4"})
    running.service._rescan()
    running.settle()
    assert set(running.published()) == {"real.mp4"}


def test_files_present_at_start_are_caught_up_and_published_ones_skipped(
    watch: Any, make_context: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(CLIP)
    first = watch()
    first.wait_published({"a.mp4"})
    first.settle()
    first.service.stop()
    first.thread.join(30)
    (folder / "b.mp3").write_bytes(TONE)  # dropped while the service was down
    second = watch()
    second.wait_published({"a.mp4", "b.mp3"})
    second.settle()
    assert second.publish_count("a.mp4") == 1 and second.publish_count("b.mp3") == 1
    assert second.service.summary.published == 1


def test_burst_of_files_all_published_exactly_once(watch: Any) -> None:
    running = watch()
    names = {f"burst/{n:04d}.mp3" for n in range(2000)}
    (running.folder / "burst").mkdir()
    for name in names:
        (running.folder / name).write_bytes(TONE + name.encode())
    running.wait_published(names, timeout=240)
    running.settle()
    counts = [running.publish_count(name) for name in names]
    assert counts == [1] * len(names)
    bucket = running.ctx.settings.streaming.bucket
    listed = running.ctx.s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="media/burst/"
    )
    assert sum(len(page.get("Contents", [])) for page in listed) == 2000


def test_changed_file_is_published_again(watch: Any) -> None:
    running = watch()
    path = running.folder / "clip.mp4"
    path.write_bytes(CLIP)
    running.wait_published({"clip.mp4"})
    first = running.published()["clip.mp4"]
    path.write_bytes(CLIP + b"\0" * 64)
    assert wait_until(lambda: running.published().get("clip.mp4") not in (None, first))
    assert public_bytes(running, "media/clip.mp4") == CLIP + b"\0" * 64
    assert running.publish_count("clip.mp4") == 2
    manifest = running.ctx.settings.site_dir / "manifest.json"
    new_hash = hashlib.sha256(CLIP + b"\0" * 64).hexdigest()
    assert wait_until(lambda: manifest.exists() and new_hash in manifest.read_text()), (
        "the site was not re-rendered"
    )


def test_archive_never_overwrites(watch: Any) -> None:
    running = watch(**{"watch.after": "archive"})
    archive = running.folder / ".published"
    archive.mkdir()
    (archive / "clip.mp4").write_bytes(b"an older file with the same name")
    (running.folder / "clip.mp4").write_bytes(CLIP)
    assert wait_until(lambda: (archive / "clip (1).mp4").exists())
    assert (archive / "clip.mp4").read_bytes() == b"an older file with the same name"
    assert (archive / "clip (1).mp4").read_bytes() == CLIP
    assert not (running.folder / "clip.mp4").exists()
    assert public_bytes(running, "media/clip.mp4") == CLIP


def test_delete_after_verified_publish(watch: Any) -> None:
    running = watch(**{"watch.after": "delete"})
    (running.folder / "clip.mp4").write_bytes(CLIP)
    assert wait_until(lambda: not (running.folder / "clip.mp4").exists())
    assert running.published()["clip.mp4"] == hashlib.sha256(CLIP).hexdigest()
    assert public_bytes(running, "media/clip.mp4") == CLIP


def test_bad_files_are_recorded_and_left_in_place(watch: Any) -> None:
    running = watch()
    (running.folder / "empty.mp4").write_bytes(b"")
    (running.folder / "good.mp4").write_bytes(CLIP)
    running.wait_published({"good.mp4"})
    running.settle()
    item = running.ctx.store.get_item("media/empty.mp4")
    assert item is not None and item.state == "failed" and item.error_code == "empty"
    assert "is empty (0 bytes)" in item.error
    assert (running.folder / "empty.mp4").exists()
    assert running.service.summary.failed == ["empty.mp4"]


def test_dead_observer_is_noticed_and_restarted(watch: Any) -> None:
    running = watch()
    intake = running.service.intake
    assert isinstance(intake, FolderIntake)
    observer = intake._observer
    observer.stop()
    observer.join(5)
    running.service._wake.set()
    assert wait_until(lambda: intake._observer is not observer and intake.healthy(), 10)
    (running.folder / "after.mp4").write_bytes(CLIP)
    running.wait_published({"after.mp4"})


def test_polling_observer(watch: Any) -> None:
    running = watch(**{"watch.polling": True})
    intake = running.service.intake
    assert isinstance(intake, FolderIntake) and intake.polling
    (running.folder / "polled.mp4").write_bytes(CLIP)
    running.wait_published({"polled.mp4"})


def test_gate_restarts_the_window_on_every_change(tmp_path: Path) -> None:
    now = [100.0]
    gate = StabilityGate(tmp_path, 2.0, lambda: now[0])
    path = tmp_path / "a.mp4"
    path.write_bytes(b"1")
    assert gate.offer("a.mp4") is True
    now[0] += 1.9
    assert gate.release() == []
    path.write_bytes(b"12")
    now[0] += 0.1
    assert gate.release() == []  # the size changed: the window starts again
    now[0] += 1.99
    assert gate.release() == []
    now[0] += 0.02
    assert [rel for rel, _ in gate.release()] == ["a.mp4"]
    assert len(gate) == 0
    path.unlink()
    assert gate.offer("a.mp4") is False


def test_patterns_and_ignores_match_relative_paths(tmp_path: Path) -> None:
    intake = FolderIntake(
        tmp_path, ("*.mp4", "*.mp3"), ("*.part", ".*", "~*"), "false", tmp_path / ".published"
    )
    assert intake.wanted("a.mp4") and intake.wanted("deep/er/b.mp3")
    assert not intake.wanted("a.mp4.part")
    assert not intake.wanted(".hidden/a.mp4") and not intake.wanted("x/~a.mp4")
    assert not intake.wanted(".published/a.mp4") and not intake.wanted("a.txt")


def test_inotify_limits_name_the_sysctl(tmp_path: Path) -> None:
    watches = inotify_problem(OSError(errno.ENOSPC, "No space left on device"), tmp_path)
    assert "fs.inotify.max_user_watches" in watches and "watch.polling = true" in watches
    instances = inotify_problem(OSError(errno.EMFILE, "Too many open files"), tmp_path)
    assert "fs.inotify.max_user_instances" in instances


def test_free_name(tmp_path: Path) -> None:
    assert free_name(tmp_path / "a.mp4") == tmp_path / "a.mp4"
    (tmp_path / "a.mp4").write_bytes(b"")
    (tmp_path / "a (1).mp4").write_bytes(b"")
    assert free_name(tmp_path / "a.mp4") == tmp_path / "a (2).mp4"
