"""One publish run: ensure infrastructure once, upload items, render the site.

Items are independent: one file's failure is recorded with its error in the state store and
never stops the others. Nothing is deleted or moved here.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import media, probe, renditions, site, storage
from pipeline.context import Context
from pipeline.errors import PipelineError
from pipeline.infrastructure import (
    Infrastructure,
    PublicAccess,
    ensure_infrastructure,
    plan_distributions,
)
from pipeline.site import SiteInfo
from pipeline.sitebuild import Built
from pipeline.state import FAILED, PUBLISHED, UPLOADING, InfraRecord, Item

log = logging.getLogger(__name__)

UPLOAD_WORKERS = 8
INSPECT_WORKERS = 4
SITE_RECORD = "site_files"

# What happened to one item in a run.
UPLOADED = "uploaded"
UNCHANGED = "unchanged"
FAILED_ACTION = "failed"
WOULD_UPLOAD = "would upload"


@dataclass
class Outcome:
    source: str
    key: str
    action: str
    error: str = ""
    error_code: str = ""


@dataclass
class PublishResult:
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    rtmp_refusal: str = ""
    dry_run: bool = False

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == FAILED_ACTION]

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "items": [o.__dict__ for o in self.outcomes],
            "notes": self.notes,
            "actions": self.actions,
            "rtmp_refusal": self.rtmp_refusal or None,
            "manifest": self.manifest,
        }


@dataclass
class Candidate:
    """A media file read once: what it is, where it goes, its hash and modification time."""

    file: media.MediaFile
    key: str
    sha256: str
    md5_base64: str
    mtime_ns: int
    probe: dict[str, Any]


def inspect(
    ctx: Context, path: Path, root: Path, *, known: Mapping[str, Item] | None = None
) -> Candidate:
    """Type, size, key and hash of one file; `PipelineError` when it cannot be published.

    With `known` (the store's items by key), a file recorded as published from this very path
    with the same size and modification time is not read again: its stored hash and probe
    are used (its MD5 is then left empty, and made by `upload_one` if it must be uploaded
    after all), and its content was checked when it was published.
    """
    info = media.media_info(path, root, check_content=known is None)
    key = media.object_key(ctx.settings.streaming.prefix, info.relpath)
    mtime_ns = path.stat().st_mtime_ns
    if known is not None:
        item = known.get(key)
        if item is not None and _same_file(item, info, mtime_ns):
            return Candidate(info, key, item.sha256, "", mtime_ns, item.probe)
        media.check_media_content(info)
    digests = media.file_digests(path)
    return Candidate(info, key, digests.sha256, digests.md5_base64, mtime_ns, probe.probe(path))


def _same_file(item: Item, info: media.MediaFile, mtime_ns: int) -> bool:
    """Was `item` published from this file as it is now (path, size, modification time)?"""
    recorded = (item.state, item.source, item.source_path, item.size, item.source_mtime_ns)
    real_path = info.real_path or str(info.path.resolve())
    return recorded == (PUBLISHED, info.relpath, real_path, info.size, mtime_ns)


def check_paths(paths: Sequence[Path]) -> None:
    """Fail fast, before any network call, when a path given does not exist."""
    media.require_existing(paths)


def publish(ctx: Context, paths: Sequence[Path], *, wait: bool = False) -> PublishResult:
    """Publish `paths` (files and folders) and render the site."""
    files, notes = media.collect(paths)
    result = PublishResult(notes=list(notes))
    # Reading and hashing the files (threads: hashlib lets go of the GIL) overlaps with
    # setting up the infrastructure, which mostly waits on the network.
    with ThreadPoolExecutor(max_workers=INSPECT_WORKERS, thread_name_prefix="inspect") as pool:
        inspected = _inspect_all(ctx, files, pool, trust_store=True)
        try:
            infra = ensure_infrastructure(ctx, wait=wait)
        except BaseException:
            for future in inspected:
                future.cancel()
            raise
        candidates = _collect_inspected(files, inspected, result)
    ctx.store.put_infra(InfraRecord("endpoint", ctx.endpoint_url or "", updated_at=ctx.now()))
    result.actions += infra.actions
    result.rtmp_refusal = infra.rtmp_refusal
    info = SiteInfo.from_store(ctx.settings, ctx.store, ctx.endpoint_url)

    existing = storage.list_keys(
        ctx.s3, ctx.settings.streaming.bucket, ctx.settings.streaming.prefix
    )
    todo = []
    for candidate in candidates:
        if is_unchanged(ctx, candidate, existing):
            result.outcomes.append(Outcome(candidate.file.relpath, candidate.key, UNCHANGED))
        else:
            todo.append(candidate)
    result.outcomes += _upload_all(ctx, infra, todo)
    result.manifest = render(ctx, info)
    if ctx.settings.site.upload:
        upload_site(ctx, infra.access)
    return result


def plan(ctx: Context, paths: Sequence[Path]) -> PublishResult:
    """What `publish` would do, using only the state store and read-only lookups."""
    files, notes = media.collect(paths)
    result = PublishResult(notes=list(notes), dry_run=True)
    candidates = _inspect(ctx, files, result)
    for candidate in candidates:
        item = ctx.store.get_item(candidate.key)
        same = item is not None and item.state == PUBLISHED and item.sha256 == candidate.sha256
        action = UNCHANGED if same else WOULD_UPLOAD
        result.outcomes.append(Outcome(candidate.file.relpath, candidate.key, action))
    result.actions += plan_distributions(ctx)
    return result


def _inspect(
    ctx: Context, files: list[tuple[Path, Path]], result: PublishResult
) -> list[Candidate]:
    """Read each file once: type, size, hash. Bad files become failed outcomes."""
    with ThreadPoolExecutor(max_workers=INSPECT_WORKERS, thread_name_prefix="inspect") as pool:
        return _collect_inspected(files, _inspect_all(ctx, files, pool), result)


def _inspect_all(
    ctx: Context, files: list[tuple[Path, Path]], pool: Executor, *, trust_store: bool = False
) -> list[Future[Candidate]]:
    # One read of the store for every file, not one query each.
    known = {item.key: item for item in ctx.store.items()} if trust_store else None
    return [pool.submit(inspect, ctx, path, root, known=known) for path, root in files]


def _collect_inspected(
    files: list[tuple[Path, Path]], inspected: list[Future[Candidate]], result: PublishResult
) -> list[Candidate]:
    """The candidates, in the order of `files`; files that failed become failed outcomes."""
    candidates = []
    for (path, root), future in zip(files, inspected, strict=True):
        try:
            candidates.append(future.result())
        except PipelineError as exc:
            code = getattr(exc, "code", "invalid")
            result.outcomes.append(Outcome(_display(path, root), "", FAILED_ACTION, str(exc), code))
        except OSError as exc:
            message = f"{path}: cannot be read ({exc.strerror}). Check its permissions."
            result.outcomes.append(
                Outcome(_display(path, root), "", FAILED_ACTION, message, "unreadable")
            )
    return candidates


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def is_unchanged(ctx: Context, candidate: Candidate, existing: dict[str, int] | None) -> bool:
    """Already published with the same content? Trust the store, but only if the object is
    still there (`existing`: keys and sizes listed this run; None: trust the store alone);
    without a record, ask the object's own hash metadata."""
    if existing is not None and existing.get(candidate.key) != candidate.file.size:
        return False
    item = ctx.store.get_item(candidate.key)
    if item is not None and item.state == PUBLISHED and item.sha256 == candidate.sha256:
        if (item.source_mtime_ns, item.source) != (candidate.mtime_ns, candidate.file.relpath):
            item.source_mtime_ns, item.source = candidate.mtime_ns, candidate.file.relpath
            ctx.store.put_item(item)
        return True
    found = storage.stored_hash(ctx.s3, ctx.settings.streaming.bucket, candidate.key)
    if found == (candidate.file.size, candidate.sha256):
        ctx.store.put_item(_item(ctx, candidate, PUBLISHED, previous=item))
        ctx.store.record_transition(candidate.key, PUBLISHED, ctx.now(), "already in the bucket")
        return True
    return False


def _item(ctx: Context, candidate: Candidate, state: str, previous: Item | None = None) -> Item:
    f = candidate.file
    now = ctx.now()
    return Item(
        key=candidate.key,
        bucket=ctx.settings.streaming.bucket,
        source=f.relpath,
        source_path=str(f.path.resolve()),
        size=f.size,
        sha256=candidate.sha256,
        content_type=f.content_type,
        kind=f.kind,
        stream_name=media.stream_name(candidate.key, f.extension),
        title=Path(f.relpath).stem,
        state=state,
        attempts=previous.attempts if previous else 0,
        published_at=now if state == PUBLISHED else (previous.published_at if previous else ""),
        updated_at=now,
        probe=candidate.probe,
        source_mtime_ns=candidate.mtime_ns,
        extras=previous.extras if previous and previous.sha256 == candidate.sha256 else {},
    )


def _upload_all(ctx: Context, infra: Infrastructure, todo: list[Candidate]) -> list[Outcome]:
    if not todo:
        return []
    total = sum(c.file.size for c in todo)
    ctx.progress.start("upload", total)
    with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS, thread_name_prefix="upload") as pool:
        outcomes = list(pool.map(lambda c: upload_one(ctx, infra, c), todo))
    ctx.progress.finish("upload", all(o.action == UPLOADED for o in outcomes))
    return outcomes


def upload_one(ctx: Context, infra: Infrastructure, candidate: Candidate) -> Outcome:
    if not candidate.md5_base64:  # inspected from the store, but the object is gone
        try:
            digests = media.file_digests(candidate.file.path)
        except PipelineError as exc:
            code = getattr(exc, "code", "error")
            return Outcome(candidate.file.relpath, candidate.key, FAILED_ACTION, str(exc), code)
        candidate = dataclasses.replace(
            candidate, sha256=digests.sha256, md5_base64=digests.md5_base64
        )
    previous = ctx.store.get_item(candidate.key)
    item = _item(ctx, candidate, UPLOADING, previous)
    item.attempts += 1
    ctx.store.put_item(item, (UPLOADING, ctx.now(), ""))
    upload = storage.Upload(
        bucket=item.bucket,
        key=item.key,
        path=candidate.file.path,
        content_type=item.content_type,
        sha256=item.sha256,
        public_acl=False,
        content_md5=candidate.md5_base64,
    )
    try:
        _publicly_upload(ctx, infra.access, upload, lambda n: ctx.progress.advance("upload", n))
    except PipelineError as exc:
        item.state, item.error, item.error_code = FAILED, str(exc), getattr(exc, "code", "error")
        ctx.store.put_item(item, (FAILED, ctx.now(), item.error))
        return Outcome(item.source, item.key, FAILED_ACTION, item.error, item.error_code)
    item.state, item.error, item.error_code = PUBLISHED, "", ""
    item.published_at = ctx.now()
    item.probe = candidate.probe
    item.extras = _upload_renditions(ctx, infra, candidate)
    ctx.store.put_item(item, (PUBLISHED, ctx.now(), ""))
    return Outcome(item.source, item.key, UPLOADED)


def _upload_renditions(ctx: Context, infra: Infrastructure, candidate: Candidate) -> dict[str, str]:
    """Make and upload what browsers need beside the item (MP4 for FLV, poster, HLS); a
    failure here is logged and leaves the item published without it."""
    f = candidate.file
    extras: dict[str, str] = {}
    if f.kind != "video":  # audio has no renditions: no temporary folder either
        return extras
    with tempfile.TemporaryDirectory(prefix="mediapub-renditions-") as temp:
        made = renditions.make(
            f.path, candidate.key, f.kind, f.content_type, candidate.probe.get("duration"),
            Path(temp), ctx.settings.hls.enabled,
        )  # fmt: skip
        for rendition in made:
            digests = media.file_digests(rendition.path)
            upload = storage.Upload(
                bucket=ctx.settings.streaming.bucket,
                key=rendition.key,
                path=rendition.path,
                content_type=rendition.content_type,
                sha256=digests.sha256,
                public_acl=False,
                content_md5=digests.md5_base64,
            )
            try:
                _publicly_upload(ctx, infra.access, upload)
            except PipelineError as exc:
                log.warning("%s: %s", f.relpath, exc)
                continue
            if rendition.kind != "hls" or rendition.key.endswith(renditions.HLS_PLAYLIST):
                extras[rendition.kind] = rendition.key
    return extras


def _publicly_upload(
    ctx: Context,
    access: PublicAccess,
    upload: storage.Upload,
    callback: Callable[[int], None] | None = None,
) -> None:
    access.put(
        upload.bucket,
        lambda acl: storage.upload_file(
            ctx.s3, dataclasses.replace(upload, public_acl=acl), callback
        ),
        upload.key,
    )


def _put_site_file(
    ctx: Context, bucket: str, key: str, body: bytes, content_type: str, acl: bool
) -> None:
    storage.put_bytes(ctx.s3, bucket, key, body, content_type, acl)


def _refresh_urls(ctx: Context, built: Built) -> None:
    """Store each published item's URLs as the current distributions give them."""
    for item, view in zip(built.items, built.views, strict=True):
        rtmp, http = view["rtmp_url"], view["http_url"]
        # An item a worker changed while the site rendered keeps its new record.
        if (rtmp, http) != (item.rtmp_url, item.http_url) and ctx.store.get_item(item.key) == item:
            ctx.store.put_item(dataclasses.replace(item, rtmp_url=rtmp, http_url=http))


def render(ctx: Context, info: SiteInfo | None = None) -> dict[str, Any]:
    """Render the site from the state store, store each item's current URLs; return the
    manifest."""
    info = info or SiteInfo.from_store(ctx.settings, ctx.store, ctx.endpoint_url)
    built = site.render_site(ctx.settings, info, ctx.store)
    _refresh_urls(ctx, built)
    return built.manifest


def upload_site(ctx: Context, access: PublicAccess) -> int:
    """Upload the site files that changed since the last upload to this bucket and endpoint;
    return how many were written."""
    bucket = ctx.settings.player.bucket
    record = ctx.store.get_infra(SITE_RECORD)
    where = {"bucket": bucket, "endpoint": ctx.endpoint_url or ""}
    uploaded: dict[str, str] = {}
    if record is not None and {k: record.data.get(k) for k in where} == where:
        uploaded = dict(record.data.get("files", {}))
    current: dict[str, str] = {}
    todo: list[tuple[str, bytes, str]] = []
    for path, key in site.site_files(ctx.settings.site_dir):
        body = path.read_bytes()
        current[key] = hashlib.sha256(body).hexdigest()
        if uploaded.get(key) != current[key]:
            content_type = "application/json" if key.endswith(".json") else storage.guess_type(path)
            todo.append((key, body, content_type))

    def put(job: tuple[str, bytes, str]) -> None:
        access.put(bucket, functools.partial(_put_site_file, ctx, bucket, *job))

    # One request per page, many at a time: a site has a few pages per item.
    with ThreadPoolExecutor(max_workers=UPLOAD_WORKERS, thread_name_prefix="site") as pool:
        list(pool.map(put, todo))
    for key in sorted(set(uploaded) - set(current)):
        storage.delete_object(ctx.s3, bucket, key)
    ctx.store.put_infra(
        InfraRecord(SITE_RECORD, bucket, data={**where, "files": current}, updated_at=ctx.now())
    )
    return len(todo)
