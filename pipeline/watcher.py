"""The drop-folder service: intake events, a stability gate, rescans, workers, shutdown.

Work flows intake -> stability gate -> work queue -> workers -> state store. The intake (a
watched local folder), the queue (in-process) and the store (SQLite) sit behind small
interfaces so that other implementations (an S3 inbox with SQS, DynamoDB) can take their place.

Nothing is lost: a file is only archived or deleted after its upload is verified, a failure
leaves the file where it is with its error recorded, and a restart catches up from the folder
and the state store (an object already in the bucket with the same hash is not uploaded again).
"""

from __future__ import annotations

import errno
import fnmatch
import heapq
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipeline import media, publisher, storage
from pipeline.context import Context
from pipeline.errors import PipelineError
from pipeline.infrastructure import Infrastructure, ensure_infrastructure
from pipeline.state import DETECTED, FAILED, PUBLISHED, STABLE, InfraRecord, Item

log = logging.getLogger(__name__)

NETWORK_FILESYSTEMS = {
    "nfs", "nfs4", "cifs", "smbfs", "smb3", "9p", "fuse.sshfs", "afs", "ceph", "glusterfs",
    "fuse.glusterfs", "lustre", "davfs", "fuse.rclone", "fuse.s3fs",
}  # fmt: skip
WORKERS = 4
MAX_BACKOFF = 300.0
RENDER_EVERY = 10.0
# Errors that retrying the same bytes cannot fix: the file has to change, or `mediapub retry`.
PERMANENT = {"empty", "not_media", "unsupported", "invalid"}


@dataclass(frozen=True)
class Snapshot:
    """What the gate compares: a file's size and modification time."""

    size: int
    mtime_ns: int


def snapshot(path: Path) -> Snapshot | None:
    """The file's snapshot, or None when it is gone, not a regular file, or a symlink."""
    try:
        st = path.lstat()
    except OSError:
        return None
    if not os.path.isfile(path) or os.path.islink(path):
        return None
    return Snapshot(st.st_size, st.st_mtime_ns)


# --- intake ----------------------------------------------------------------------------------


class Intake(Protocol):
    """Where work comes from: relative paths of candidate files."""

    def start(self, notify: Callable[[str], None]) -> None: ...
    def scan(self) -> Iterator[str]: ...
    def healthy(self) -> bool: ...
    def restart(self) -> None: ...
    def stop(self) -> None: ...


class FolderIntake:
    """A local folder watched recursively with watchdog (inotify, or polling)."""

    def __init__(
        self,
        folder: Path,
        patterns: tuple[str, ...],
        ignore: tuple[str, ...],
        polling: str,
        archive_dir: Path | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.folder = folder
        self.patterns = patterns
        self.ignore = ignore
        self.archive_dir = archive_dir
        self.polling = polling == "true" or (polling == "auto" and is_network_fs(folder))
        self.poll_interval = poll_interval
        self._observer: Any = None
        self._notify: Callable[[str], None] = lambda _: None

    # which names count
    def relpath(self, path: str | os.PathLike[str]) -> str | None:
        try:
            rel = Path(os.path.abspath(path)).relative_to(self.folder)
        except ValueError:
            return None
        return rel.as_posix() if rel.parts else None

    def wanted(self, rel: str) -> bool:
        """Matches `watch.patterns` and no `watch.ignore` (on the path or any part of it)."""
        parts = rel.split("/")
        if self.archive_dir is not None and self._inside_archive(rel):
            return False
        for pattern in self.ignore:
            if fnmatch.fnmatch(rel, pattern) or any(fnmatch.fnmatch(p, pattern) for p in parts):
                return False
        return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(parts[-1], p) for p in self.patterns)

    def _inside_archive(self, rel: str) -> bool:
        assert self.archive_dir is not None
        return (self.folder / rel).is_relative_to(self.archive_dir)

    def scan(self) -> Iterator[str]:
        """Every wanted regular file below the folder (symlinks are not followed)."""
        for top, dirs, files in os.walk(self.folder, followlinks=False):
            base = Path(top)
            dirs[:] = sorted(d for d in dirs if not self._skip_dir(base / d))
            for name in sorted(files):
                path = base / name
                rel = self.relpath(path)
                if rel and not path.is_symlink() and self.wanted(rel):
                    yield rel

    def _skip_dir(self, path: Path) -> bool:
        if path.is_symlink():
            return True
        if self.archive_dir is not None and path == self.archive_dir:
            return True
        return any(fnmatch.fnmatch(path.name, p) for p in self.ignore)

    # events
    def start(self, notify: Callable[[str], None]) -> None:
        self._notify = notify
        self._start_observer()

    def _start_observer(self) -> None:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        observer = PollingObserver(timeout=self.poll_interval) if self.polling else Observer()
        observer.schedule(_Handler(self), str(self.folder), recursive=True)
        try:
            observer.start()
        except OSError as exc:
            raise PipelineError(inotify_problem(exc, self.folder)) from exc
        self._observer = observer

    def on_path(self, path: str, is_directory: bool) -> None:
        if is_directory:
            # A directory moved or copied in: its files will not send events of their own.
            for below in self._scan_below(Path(path)):
                self._notify(below)
            return
        rel = self.relpath(path)
        if rel and self.wanted(rel) and not os.path.islink(path):
            self._notify(rel)

    def _scan_below(self, directory: Path) -> Iterator[str]:
        rel = self.relpath(directory)
        if rel is None or self._skip_dir(directory):
            return
        for top, dirs, files in os.walk(directory, followlinks=False):
            base = Path(top)
            dirs[:] = [d for d in dirs if not self._skip_dir(base / d)]
            for name in files:
                file_rel = self.relpath(base / name)
                if file_rel and not (base / name).is_symlink() and self.wanted(file_rel):
                    yield file_rel

    def healthy(self) -> bool:
        return self._observer is not None and bool(self._observer.is_alive())

    def restart(self) -> None:
        self.stop()
        self._start_observer()

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            if self._observer.is_alive():
                self._observer.join(timeout=5)
            self._observer = None


class _Handler:
    """watchdog event handler: every event that may bring a file reports its path."""

    def __init__(self, intake: FolderIntake) -> None:
        self.intake = intake

    def dispatch(self, event: Any) -> None:
        kind = event.event_type
        if event.is_directory:
            # A directory created or moved in may already hold files; "modified" on a
            # directory only means an entry changed, and that entry sends its own event.
            if kind in ("created", "moved"):
                path = event.dest_path if kind == "moved" else event.src_path
                self.intake.on_path(os.fsdecode(path), True)
        elif kind in ("created", "modified", "closed"):
            self.intake.on_path(os.fsdecode(event.src_path), False)
        elif kind == "moved":
            self.intake.on_path(os.fsdecode(event.dest_path), False)


def is_network_fs(folder: Path) -> bool:
    """True when `folder` is on a network filesystem, where inotify sees no remote changes."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    best, best_type = "", ""
    target = str(folder.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, best_type = point, fields[2]
    return best_type in NETWORK_FILESYSTEMS


def inotify_problem(exc: OSError, folder: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return (
            f"cannot watch {folder}: the inotify watch limit is reached. Raise it with "
            "`sysctl fs.inotify.max_user_watches=524288` (and in /etc/sysctl.d/ to keep it), "
            "or set watch.polling = true."
        )
    if exc.errno == errno.EMFILE:
        return (
            f"cannot watch {folder}: the inotify instance limit is reached. Raise it with "
            "`sysctl fs.inotify.max_user_instances=1024`, or set watch.polling = true."
        )
    return f"cannot watch {folder}: {exc.strerror or exc}. Check that the folder is readable."


# --- the stability gate ----------------------------------------------------------------------


class StabilityGate:
    """Lets a file through once its size and mtime have not changed for `seconds`.

    A file is looked at again only when its window is due (or when an event offers it), so a
    burst of thousands of files costs one stat each per window, not one per tick.
    """

    def __init__(self, folder: Path, seconds: float, clock: Callable[[], float]) -> None:
        self.folder = folder
        self.seconds = seconds
        self.clock = clock
        self._pending: dict[str, tuple[Snapshot, float]] = {}
        self._due: list[tuple[float, str]] = []  # (due time, rel); stale entries are skipped

    def __len__(self) -> int:
        return len(self._pending)

    def offer(self, rel: str) -> bool:
        """A file may have changed: (re)start its window if it did. True if it is new here."""
        current = snapshot(self.folder / rel)
        if current is None:
            self._pending.pop(rel, None)
            return False
        known = self._pending.get(rel)
        if known is None or known[0] != current:
            self._start(rel, current, self.clock())
        return known is None

    def _start(self, rel: str, current: Snapshot, now: float) -> None:
        self._pending[rel] = (current, now)
        heapq.heappush(self._due, (now + self.seconds, rel))

    def release(self) -> list[tuple[str, Snapshot]]:
        """Files that have been still for the whole window; vanished ones are dropped."""
        now = self.clock()
        ready = []
        while self._due and self._due[0][0] <= now:
            due, rel = heapq.heappop(self._due)
            entry = self._pending.get(rel)
            if entry is None or entry[1] + self.seconds != due:
                continue  # released, dropped, or its window restarted since
            known, _ = entry
            current = snapshot(self.folder / rel)
            if current is None:
                del self._pending[rel]
            elif current != known:
                self._start(rel, current, now)
            else:
                del self._pending[rel]
                ready.append((rel, current))
        return ready

    def next_due(self) -> float | None:
        while self._due:
            due, rel = self._due[0]
            entry = self._pending.get(rel)
            if entry is not None and entry[1] + self.seconds == due:
                return due
            heapq.heappop(self._due)
        return None


# --- the work queue --------------------------------------------------------------------------


@dataclass(order=True)
class Work:
    due: float
    rel: str = field(compare=False)
    seen: Snapshot = field(compare=False)


class WorkQueue(Protocol):
    def put(self, work: Work) -> None: ...
    def get(self, timeout: float) -> Work | None: ...


class MemoryQueue:
    """The in-process work queue."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Work] = queue.Queue()

    def put(self, work: Work) -> None:
        self._queue.put(work)

    def get(self, timeout: float) -> Work | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def empty(self) -> bool:
        return self._queue.empty()


# --- the service -----------------------------------------------------------------------------


@dataclass
class WatchSummary:
    published: int = 0
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)


class WatchService:
    """`mediapub watch`: run until `stop()` (or, with `once`, until the folder is done)."""

    def __init__(
        self,
        ctx: Context,
        folder: Path,
        *,
        once: bool = False,
        workers: int = WORKERS,
        backoff_seconds: float = 2.0,
        render_delay: float = 1.0,
        tick: float = 0.1,
        intake: Intake | None = None,
        work_queue: WorkQueue | None = None,
    ) -> None:
        settings = ctx.settings.watch
        self.ctx = ctx
        self.folder = folder.resolve()
        self.once = once
        self.workers = workers
        self.backoff = backoff_seconds
        self.render_delay = render_delay
        self.tick = tick
        self.archive_dir = (
            Path(settings.archive_dir) if settings.archive_dir else self.folder / ".published"
        )
        self.intake = intake or FolderIntake(
            self.folder, settings.patterns, settings.ignore, settings.polling, self.archive_dir
        )
        self.queue = work_queue or MemoryQueue()
        self.gate = StabilityGate(self.folder, settings.stable_seconds, time.monotonic)
        self.summary = WatchSummary()
        self.infra: Infrastructure | None = None
        self._inbox: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._busy: dict[str, Snapshot] = {}  # queued or being worked on, as it was seen
        self._again: set[str] = set()  # changed while busy: offer again when done
        self._retries: list[Work] = []
        self._waiting: set[str] = set()  # in self._retries
        self._failures: dict[str, int] = {}  # consecutive transient failures per file
        self._site_dirty = threading.Event()
        self._last_change = 0.0
        self._last_render = 0.0
        self._threads: list[threading.Thread] = []
        self._existing: dict[str, int] = {}
        self.ready = threading.Event()  # set once infrastructure is ensured and the catch-up ran

    # -- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop taking new files; in-flight uploads finish."""
        self._stopping.set()
        self._wake.set()

    def run(self) -> WatchSummary:
        """Ensure infrastructure once, catch up, then follow events until stopped."""
        if not self.folder.is_dir():
            raise PipelineError(
                f"{self.folder}: the drop folder does not exist. Create it, or set watch.folder."
            )
        self.infra = ensure_infrastructure(self.ctx)
        # What the bucket holds now: a new key needs no HEAD to know it is not there yet.
        self._existing = storage.list_keys(
            self.ctx.s3, self.ctx.settings.streaming.bucket, self.ctx.settings.streaming.prefix
        )
        self.ctx.store.put_infra(
            InfraRecord("endpoint", self.ctx.endpoint_url or "", updated_at=self.ctx.now())
        )
        self.intake.start(self._notify)
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"watch-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        site = threading.Thread(target=self._site_loop, name="watch-site", daemon=True)
        site.start()
        self._threads.append(site)
        try:
            self._rescan()
            self.ready.set()
            self._loop()
        finally:
            self.intake.stop()
            self._stopping.set()
            for thread in self._threads:
                thread.join()
            self._render_site()
        return self.summary

    def _notify(self, rel: str) -> None:
        self._inbox.put(rel)
        self._wake.set()

    # -- the main loop: events -> gate -> queue; retries; rescans; health; site ------------

    def _loop(self) -> None:
        rescan_every = self.ctx.settings.watch.rescan_seconds
        next_rescan = time.monotonic() + rescan_every
        while not self._stopping.is_set():
            self._drain_inbox()
            self._release_stable()
            self._release_retries()
            now = time.monotonic()
            if now >= next_rescan:
                self._rescan()
                next_rescan = now + rescan_every
            if not self.intake.healthy():
                log.error("the folder observer stopped; restarting it and rescanning the folder")
                self.intake.restart()
                self._rescan()
            if self.once and self._idle():
                return
            self._wake.wait(self._sleep_for(next_rescan))
            self._wake.clear()

    def _sleep_for(self, next_rescan: float) -> float:
        deadlines = [next_rescan, time.monotonic() + 5.0]
        due = self.gate.next_due()
        if due is not None:
            deadlines.append(due)
        with self._lock:
            if self._retries:
                deadlines.append(self._retries[0].due)
        wait = min(deadlines) - time.monotonic()
        return min(max(wait, self.tick if len(self.gate) else 0.0), 60.0)

    def _drain_inbox(self) -> None:
        while True:
            try:
                rel = self._inbox.get_nowait()
            except queue.Empty:
                return
            self._offer(rel)

    def _offer(self, rel: str) -> None:
        with self._lock:
            seen = self._busy.get(rel)
            if seen is not None:
                if snapshot(self.folder / rel) != seen:
                    self._again.add(rel)
                return
        if self.gate.offer(rel):
            self._transition(rel, DETECTED)

    def _release_stable(self) -> None:
        for rel, seen in self.gate.release():
            if self._needs_work(rel, seen):
                self._enqueue(Work(time.monotonic(), rel, seen))

    def _release_retries(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = []
            while self._retries and self._retries[0].due <= now:
                due.append(heapq.heappop(self._retries))
                self._waiting.discard(due[-1].rel)
        for work in due:
            current = snapshot(self.folder / work.rel)
            if current is not None:
                self._enqueue(Work(now, work.rel, current))

    def _enqueue(self, work: Work) -> None:
        with self._lock:
            if work.rel in self._busy:
                self._again.add(work.rel)
                return
            self._busy[work.rel] = work.seen
        self.queue.put(work)

    def _rescan(self) -> None:
        """Reconcile the folder with the state store: catches events that were lost."""
        count = 0
        for rel in self.intake.scan():
            with self._lock:
                if rel in self._busy or rel in self._waiting:
                    continue  # being worked on, or waiting for its retry
            seen = snapshot(self.folder / rel)
            if seen is not None and self._needs_work(rel, seen):
                self._offer(rel)
                count += 1
        if count:
            log.info("rescan: %d file(s) to check", count)

    def _needs_work(self, rel: str, seen: Snapshot) -> bool:
        """False when the store says this exact file (size and mtime) is done with."""
        item = self._item_for(rel)
        if item is None or (item.size, item.source_mtime_ns) != (seen.size, seen.mtime_ns):
            return True
        if item.state == PUBLISHED:
            return self._after_action_pending(item)
        given_up = self._failures.get(rel, 0) >= self._max_attempts
        if item.state == FAILED:
            # Until the file changes or `mediapub retry`; a restart tries transient ones again.
            return item.error_code not in PERMANENT and not given_up
        if given_up:  # `mediapub retry` reset the item: start counting again
            with self._lock:
                self._failures.pop(rel, None)
        return True

    def _after_action_pending(self, item: Item) -> bool:
        return self.ctx.settings.watch.after != "keep" and (self.folder / item.source).exists()

    @property
    def _max_attempts(self) -> int:
        return self.ctx.settings.watch.max_attempts

    def _item_for(self, rel: str) -> Item | None:
        key = self._key(rel)
        return self.ctx.store.get_item(key) if key else None

    def _idle(self) -> bool:
        with self._lock:
            busy = bool(self._busy) or bool(self._retries)
        return not busy and not len(self.gate) and self._inbox.empty()

    # -- workers ---------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stopping.is_set():
            work = self.queue.get(timeout=0.2)
            if work is None:
                continue
            try:
                self._process(work)
            except Exception:
                log.exception("%s: unexpected error; the file stays where it is", work.rel)
            finally:
                with self._lock:
                    self._busy.pop(work.rel, None)
                    again = work.rel in self._again
                    self._again.discard(work.rel)
                if again or snapshot(self.folder / work.rel) not in (None, work.seen):
                    self._notify(work.rel)
                self._wake.set()

    def _process(self, work: Work) -> None:
        path = self.folder / work.rel
        if snapshot(path) != work.seen:  # changed since the gate let it through
            self._notify(work.rel)
            return
        self._transition(work.rel, STABLE)
        try:
            candidate = publisher.inspect(self.ctx, path, self.folder)
        except PipelineError as exc:
            self._reject(work, exc)
            return
        if snapshot(path) != work.seen:  # changed while being hashed
            self._notify(work.rel)
            return
        try:
            self._publish(work, candidate)
        except PipelineError as exc:  # the endpoint failed us (a HEAD, a verify)
            self._retry_later(work, getattr(exc, "code", "error"), str(exc))

    def _publish(self, work: Work, candidate: publisher.Candidate) -> None:
        before = self.ctx.store.get_item(candidate.key)
        if publisher.is_unchanged(self.ctx, candidate, self._existing):
            if before is None or before.state != PUBLISHED:
                log.info("%s: published (already in the bucket)", work.rel)
            self.summary.unchanged += 1
            self._succeeded(work)
            self._after_publish(candidate)
            return
        assert self.infra is not None
        log.info("%s: uploading", work.rel)
        outcome = publisher.upload_one(self.ctx, self.infra, candidate)
        if outcome.action == publisher.FAILED_ACTION:
            self._retry_later(work, outcome.error_code, outcome.error)
            return
        with self._lock:
            self._existing[candidate.key] = candidate.file.size
        log.info("%s: published as %s", work.rel, candidate.key)
        self.summary.published += 1
        self._succeeded(work)
        self._mark_site_dirty()
        self._after_publish(candidate)

    def _succeeded(self, work: Work) -> None:
        with self._lock:
            self._failures.pop(work.rel, None)

    def _key(self, rel: str) -> str | None:
        try:
            return media.object_key(self.ctx.settings.streaming.prefix, rel)
        except PipelineError:
            return None

    def _transition(self, rel: str, state: str, detail: str = "") -> None:
        """Record (and log) a state change of a file that may not have an item yet."""
        log.info("%s: %s", rel, state if not detail else f"{state} ({detail})")
        key = self._key(rel)
        if key is None:
            return
        item = self.ctx.store.get_item(key)
        # A published item stays published (its page stays up) until a new upload starts.
        if item is not None and item.state not in (state, PUBLISHED):
            item.state = state
            item.updated_at = self.ctx.now()
            self.ctx.store.put_item(item)
        self.ctx.store.record_transition(key, state, self.ctx.now(), detail)

    def _reject(self, work: Work, exc: PipelineError) -> None:
        """A file that cannot be published as it is: recorded, left in place."""
        code = getattr(exc, "code", "invalid")
        key = self._key(work.rel)
        self.summary.failed.append(work.rel)
        if key is None:
            log.warning("%s: failed (%s): %s", work.rel, code, exc)
            return
        previous = self.ctx.store.get_item(key)
        item = Item(
            key=key,
            bucket=self.ctx.settings.streaming.bucket,
            source=work.rel,
            source_path=str(self.folder / work.rel),
            size=work.seen.size,
            sha256="",
            content_type="",
            kind="",
            stream_name="",
            title=Path(work.rel).stem,
            state=FAILED,
            attempts=(previous.attempts if previous else 0) + 1,
            error_code=code,
            error=str(exc),
            updated_at=self.ctx.now(),
            source_mtime_ns=work.seen.mtime_ns,
        )
        self.ctx.store.put_item(item)
        self.ctx.store.record_transition(key, FAILED, self.ctx.now(), str(exc))
        log.warning("%s: failed (%s): %s", work.rel, code, exc)

    def _retry_later(self, work: Work, code: str, error: str) -> None:
        """A transient failure: back off exponentially, up to `watch.max_attempts` in a row."""
        with self._lock:
            failures = self._failures.get(work.rel, 0) + 1
            self._failures[work.rel] = failures
        if failures >= self._max_attempts:
            log.warning("%s: failed after %d attempts: %s", work.rel, failures, error)
            self._record_failure(work, code, error)
            self.summary.failed.append(work.rel)
            return
        delay = min(self.backoff * 2 ** (failures - 1), MAX_BACKOFF)
        log.info("%s: attempt %d failed (%s); retrying in %.1f s", work.rel, failures, code, delay)
        with self._lock:
            heapq.heappush(self._retries, Work(time.monotonic() + delay, work.rel, work.seen))
            self._waiting.add(work.rel)
        self._wake.set()

    def _record_failure(self, work: Work, code: str, error: str) -> None:
        """Make sure the store shows the final failure (upload failures are there already)."""
        item = self._item_for(work.rel)
        if item is None or item.state == FAILED:
            return
        item.state, item.error_code, item.error = FAILED, code, error
        item.updated_at = self.ctx.now()
        self.ctx.store.put_item(item)
        self.ctx.store.record_transition(item.key, FAILED, self.ctx.now(), error)

    # -- after publish ---------------------------------------------------------------------

    def _after_publish(self, candidate: publisher.Candidate) -> None:
        """keep, archive or delete the source, only once the object is verified."""
        action = self.ctx.settings.watch.after
        if action == "keep":
            return
        found = storage.stored_hash(self.ctx.s3, self.ctx.settings.streaming.bucket, candidate.key)
        if found != (candidate.file.size, candidate.sha256):
            log.warning("%s: not verified in the bucket; left in place", candidate.file.relpath)
            return
        source = candidate.file.path
        if action == "delete":
            source.unlink(missing_ok=True)
            log.info("%s: deleted after publishing", candidate.file.relpath)
            return
        target = free_name(self.archive_dir / candidate.file.relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), str(target))
        log.info("%s: archived to %s", candidate.file.relpath, target)

    # -- the site --------------------------------------------------------------------------

    def _mark_site_dirty(self) -> None:
        self._last_change = time.monotonic()
        self._site_dirty.set()

    def _site_loop(self) -> None:
        """Re-render (and upload) the site after each batch: once publishing has been quiet for
        `render_delay`, or every `RENDER_EVERY` seconds during a long burst."""
        while not self._stopping.is_set():
            if not self._site_dirty.wait(0.5):
                continue
            quiet = time.monotonic() - self._last_change >= self.render_delay
            overdue = time.monotonic() - self._last_render >= RENDER_EVERY
            if quiet or overdue:
                self._render_site()
            else:
                self._stopping.wait(self.render_delay / 2)

    def _render_site(self) -> None:
        if not self._site_dirty.is_set() or self.infra is None:
            return
        self._site_dirty.clear()
        self._last_render = time.monotonic()
        try:
            publisher.render(self.ctx)
            if self.ctx.settings.site.upload:
                publisher.upload_site(self.ctx, self.infra.access)
        except PipelineError as exc:
            self._site_dirty.set()
            log.warning("the site could not be rendered or uploaded: %s", exc)
            return
        log.info("site rendered")


def free_name(target: Path) -> Path:
    """`target`, or `name (1).ext`, `name (2).ext`... whichever does not exist yet."""
    if not target.exists():
        return target
    for n in range(1, 100_000):
        candidate = target.with_name(f"{target.stem} ({n}){target.suffix}")
        if not candidate.exists():
            return candidate
    raise PipelineError(f"{target}: too many archived copies; clean up the archive folder.")


def retry_failed(ctx: Context, name: str | None) -> list[str]:
    """Make failed items eligible again (attempts reset); return their keys."""
    failed = [i for i in ctx.store.items_in(FAILED) if name in (None, i.key, i.source)]
    for item in failed:
        item.attempts = 0
        item.state = DETECTED
        item.source_mtime_ns = 0  # forces a fresh look at the file
        ctx.store.put_item(item)
        ctx.store.record_transition(item.key, DETECTED, ctx.now(), "retry requested")
    return [i.key for i in failed]
