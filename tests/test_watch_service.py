"""End to end: the installed `mediapub watch` (the drop-folder service) and `mediapub retry`, run
as subprocesses against the session's local stack used as an AWS endpoint.

Real files, real processes, real signals. Every outcome is checked by independent means:
anonymous HTTP GETs of the objects, bucket listings with a boto3 client of the test's own, the
state store read from `.mediapub/`, and each command's exit status and stderr. Waits poll a
condition until a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from pipeline.context import LOCAL_CREDENTIALS
from pipeline.errors import ExitStatus
from pipeline.local.stack import LocalStack
from pipeline.state import DETECTED, FAILED, PUBLISHED, STABLE, UPLOADING, SQLiteStateStore
from pipeline.state import open_store as open_state_store

from .conftest import SAMPLES, mediapub_command
from .tcp_proxy import TcpProxy

STABLE_SECONDS = 0.3
RESCAN_SECONDS = 1.0
POLL_SECONDS = 0.05
RUN_TIMEOUT = 120.0  # one `--once` run, or one phase of a running service
PREFIX = "media/"
FOLDER = "drop"

TONE = (SAMPLES / "audio" / "tone.mp3").read_bytes()
CLIP = (SAMPLES / "clip.mp4").read_bytes()

STOPPING = "Stopping: finishing uploads in progress."
# "2026-11-30 03:35:20 clip.mp4: published as media/clip.mp4"
EVENT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (?P<message>.*)$")


# --- waiting -----------------------------------------------------------------------------------


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str | Callable[[], str],
    interval: float = POLL_SECONDS,
) -> None:
    """Poll `condition` every `interval` seconds until it holds; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() >= deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {detail}")
        pause.wait(interval)


# --- the processes -----------------------------------------------------------------------------


class Watcher:
    """One `mediapub watch` process in a session of its own; its output is read as it comes."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [*mediapub_command(), "watch", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: SIGKILL takes ffprobe children too
        )
        self._lock = threading.Lock()
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self._stdout)),
            threading.Thread(target=self._read, args=(self.process.stderr, self._stderr)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()

    def _read(self, stream: IO[str], into: list[str]) -> None:
        for line in stream:
            with self._lock:
                into.append(line.rstrip("\n"))

    @property
    def stderr(self) -> list[str]:
        with self._lock:
            return list(self._stderr)

    def events(self) -> list[str]:
        """The state-change lines on stderr, without their timestamps."""
        found = (EVENT.match(line) for line in self.stderr)
        return [m["message"] for m in found if m]

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.stderr)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.stderr[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait for `condition` while the process runs; fail at once if it exits."""

        def holds() -> bool:
            if condition():
                return True
            if not self.alive():
                raise AssertionError(
                    f"mediapub watch exited ({self.process.returncode}) while waiting for "
                    f"{what}:\n{self.tail()}"
                )
            return False

        wait_until(holds, timeout=timeout, what=lambda: f"{what}; stderr:\n{self.tail()}")

    def wait_for_line(self, text: str, timeout: float = RUN_TIMEOUT) -> None:
        self.wait_for(lambda: self.saw(text), timeout, repr(text))

    def finish(self, timeout: float = RUN_TIMEOUT) -> int:
        """Wait for the process to exit by itself and for its output to be read."""
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        return code

    def terminate(self, timeout: float = RUN_TIMEOUT) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.finish(timeout)

    def kill(self) -> None:
        """SIGKILL the whole process group (no-op once it is gone)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.finish(timeout=30)


@pytest.fixture
def launch() -> Iterator[Callable[..., Watcher]]:
    """Start `mediapub watch` processes; whatever still runs at the end is killed."""
    started: list[Watcher] = []

    def start(workspace: Workspace, *args: str) -> Watcher:
        watcher = Watcher([FOLDER, *args], workspace.cwd, workspace.env)
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        watcher.kill()


# --- the workspace: config, folder, environment and independent views of the outcome ----------


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client of the test's own (path-style, the local credentials)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=LOCAL_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=LOCAL_CREDENTIALS["aws_secret_access_key"],
        region_name="us-east-1",
    )
    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2})
    return session.client("s3", endpoint_url=endpoint, config=config)


def cloudfront_client(endpoint: str) -> Any:
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=LOCAL_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=LOCAL_CREDENTIALS["aws_secret_access_key"],
        region_name="us-east-1",
    )
    return session.client("cloudfront", endpoint_url=endpoint)


@dataclass
class Workspace:
    """A working directory with `mediapub.toml`, the drop folder and the environment for one
    test's buckets; `endpoint` is the stack itself, used for every check."""

    cwd: Path
    env: dict[str, str]
    bucket: str
    player_bucket: str
    endpoint: str
    s3: Any

    @property
    def folder(self) -> Path:
        return self.cwd / FOLDER

    @contextlib.contextmanager
    def store(self) -> Iterator[SQLiteStateStore]:
        """The state store the commands write (open it only once a command has created it)."""
        state_dir = self.cwd / ".mediapub"
        assert (state_dir / "state.sqlite3").exists(), "no state store yet"
        store = open_state_store(state_dir)
        try:
            yield store
        finally:
            store.close()

    def keys(self) -> dict[str, int]:
        """Every key in the streaming bucket with its size."""
        found: dict[str, int] = {}
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        for page in pages:
            for obj in page.get("Contents", []):
                found[obj["Key"]] = int(obj["Size"])
        return found

    def media_keys(self) -> dict[str, int]:
        """Media objects, without what is derived from them for browsers (posters, remuxes)."""
        derived = (".poster.jpg", ".flv.mp4")
        return {
            k: v
            for k, v in self.keys().items()
            if k.startswith(PREFIX) and not k.endswith(derived) and ".hls/" not in k
        }

    def listed_at_least(self, count: int) -> bool:
        """Whether `count` media objects are listed (False while there is no bucket yet)."""
        from botocore.exceptions import ClientError

        try:
            reply = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=PREFIX, MaxKeys=count)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "NoSuchBucket":
                return False
            raise
        return int(reply.get("KeyCount", 0)) >= count

    def url(self, key: str) -> str:
        return f"{self.endpoint}/{self.bucket}/{urllib.parse.quote(key)}"

    def fetch(self, key: str) -> bytes | None:
        """The object's bytes by an anonymous GET, or None when it is not there."""
        try:
            with urllib.request.urlopen(self.url(key), timeout=60) as reply:
                body: bytes = reply.read()
                return body
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def fetch_sha256(self, key: str) -> str | None:
        """The SHA-256 of the object by an anonymous GET, read in chunks (for big objects)."""
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(self.url(key), timeout=60) as reply:
                while chunk := reply.read(1 << 20):
                    digest.update(chunk)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
        return digest.hexdigest()

    def head(self, key: str) -> tuple[int, str] | None:
        """(size, sha256 metadata) of an object, or None."""
        from botocore.exceptions import ClientError

        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"]), str(head.get("Metadata", {}).get("sha256", ""))


def toml_value(value: bool | int | float | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


@pytest.fixture
def workspace(
    stack: LocalStack, aws_env: dict[str, str], buckets: dict[str, str], tmp_path: Path
) -> Callable[..., Workspace]:
    """Make the test's workspace: `[watch]` settings (fast by default), `[site]` settings, and
    optionally another endpoint for the command (a proxy) than the stack the checks use."""

    def make(
        watch: dict[str, bool | int | float | str] | None = None,
        site: dict[str, bool | int | float | str] | None = None,
        endpoint_url: str | None = None,
    ) -> Workspace:
        tables = {
            "watch": {
                "stable_seconds": STABLE_SECONDS,
                "rescan_seconds": RESCAN_SECONDS,
                **(watch or {}),
            },
            "site": site or {},
        }
        text = ""
        for name, values in tables.items():
            if values:
                text += f"[{name}]\n" + "".join(
                    f"{k} = {toml_value(v)}\n" for k, v in values.items()
                )
        (tmp_path / "mediapub.toml").write_text(text, encoding="utf-8")
        (tmp_path / FOLDER).mkdir(exist_ok=True)
        env = {
            **aws_env,
            "MEDIAPUB_STREAMING_BUCKET": buckets["streaming"],
            "MEDIAPUB_PLAYER_BUCKET": buckets["player"],
        }
        if endpoint_url is not None:
            env["MEDIAPUB_ENDPOINT_URL"] = endpoint_url
        return Workspace(
            cwd=tmp_path,
            env=env,
            bucket=buckets["streaming"],
            player_bucket=buckets["player"],
            endpoint=stack.endpoint_url,
            s3=s3_client(stack.endpoint_url),
        )

    return make


def run_command(workspace: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*mediapub_command(), *args],
        cwd=workspace.cwd,
        env=workspace.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def run_once(workspace: Workspace) -> subprocess.CompletedProcess[str]:
    return run_command(workspace, "watch", FOLDER, "--once")


def events(stderr: str) -> list[str]:
    found = (EVENT.match(line) for line in stderr.splitlines())
    return [m["message"] for m in found if m]


def tone(path: Path, tag: str) -> bytes:
    """A distinct, valid MP3: the sample tone with `tag` appended (decoders skip trailing junk;
    the content check reads only the start)."""
    body = TONE + tag.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return body


def states(store: SQLiteStateStore, key: str) -> list[str]:
    return [state for state, _, _ in store.transitions(key)]


def in_order(sequence: list[str], wanted: list[str]) -> bool:
    """Whether `wanted` appears in `sequence` in this order (other entries may come between)."""
    rest = iter(sequence)
    return all(any(entry == w for entry in rest) for w in wanted)


def list_all(call: Callable[..., dict[str, Any]], list_name: str) -> list[dict[str, Any]]:
    """Every item of a CloudFront list call, following its markers."""
    items: list[dict[str, Any]] = []
    marker = ""
    while True:
        reply = call(**({"Marker": marker} if marker else {}))[list_name]
        items += reply.get("Items", []) or []
        marker = reply.get("NextMarker", "")
        if not reply.get("IsTruncated") or not marker:
            return items


def distributions_for(workspace: Workspace) -> tuple[int, int]:
    """How many streaming distributions have the streaming bucket as origin, and how many
    download distributions have the player bucket as an origin."""
    cloudfront = cloudfront_client(workspace.endpoint)
    streaming_origin = f"{workspace.bucket}.s3.amazonaws.com"
    player_origin = f"{workspace.player_bucket}.s3.amazonaws.com"
    streaming = list_all(cloudfront.list_streaming_distributions, "StreamingDistributionList")
    web = list_all(cloudfront.list_distributions, "DistributionList")
    return (
        sum(1 for d in streaming if d["S3Origin"]["DomainName"] == streaming_origin),
        sum(1 for d in web if player_origin in [o["DomainName"] for o in d["Origins"]["Items"]]),
    )


def assert_no_crash(stderr: list[str]) -> None:
    crashes = [line for line in stderr if "unexpected error" in line or "Traceback" in line]
    assert not crashes, "\n".join(stderr)


# --- 1. --once ---------------------------------------------------------------------------------


def test_once_publishes_what_is_there_and_exits_0(workspace: Callable[..., Workspace]) -> None:
    ws = workspace()
    shutil.copytree(
        SAMPLES, ws.folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.md", "*.sh")
    )
    sources = {
        "clip.mp4": CLIP,
        "audio/tone.mp3": TONE,
        "videos/bars and tone.flv": (SAMPLES / "videos" / "bars and tone.flv").read_bytes(),
    }

    done = run_once(ws)

    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "Published 3, unchanged 0, failed 0."
    lines = events(done.stderr)
    for source, body in sources.items():
        key = PREFIX + source
        assert f"{source}: published as {key}" in lines
        assert ws.fetch(key) == body, key
        assert (ws.folder / source).read_bytes() == body  # watch.after = "keep"
    assert set(ws.media_keys()) == {PREFIX + s for s in sources}
    with ws.store() as store:
        items = {i.key: i for i in store.items()}
        assert set(items) == {PREFIX + s for s in sources}
        for key, item in items.items():
            assert item.state == PUBLISHED and item.attempts == 1, key
            history = states(store, key)
            assert in_order(history, [DETECTED, STABLE, UPLOADING, PUBLISHED]), history
            assert history.count(UPLOADING) == 1 and history.count(PUBLISHED) == 1, history


def test_once_leaves_empty_and_fake_files_failed_and_exits_5(
    workspace: Callable[..., Workspace],
) -> None:
    ws = workspace()
    (ws.folder / "clip.mp4").write_bytes(CLIP)
    (ws.folder / "empty.mp4").write_bytes(b"")
    fake = b"this is a text file, not a video\n"
    (ws.folder / "fake.mp4").write_bytes(fake)

    done = run_once(ws)

    assert done.returncode == ExitStatus.PARTIAL, done.stderr
    assert done.stderr.splitlines()[-1] == "Published 1, unchanged 0, failed 2."
    lines = events(done.stderr)
    assert "clip.mp4: published as media/clip.mp4" in lines
    assert any(line.startswith("empty.mp4: failed (empty): ") for line in lines), lines
    assert any(line.startswith("fake.mp4: failed (not_media): ") for line in lines), lines
    # Both stay where they are, untouched; neither reached the bucket.
    assert (ws.folder / "empty.mp4").read_bytes() == b""
    assert (ws.folder / "fake.mp4").read_bytes() == fake
    assert set(ws.media_keys()) == {"media/clip.mp4"}
    assert ws.fetch("media/clip.mp4") == CLIP
    with ws.store() as store:
        for key, code in (("media/empty.mp4", "empty"), ("media/fake.mp4", "not_media")):
            item = store.get_item(key)
            assert item is not None, key
            assert (item.state, item.error_code, item.attempts) == (FAILED, code, 1), item
            assert item.error, key
            history = states(store, key)
            assert history[-1] == FAILED and UPLOADING not in history, history
        clip = store.get_item("media/clip.mp4")
        assert clip is not None and clip.state == PUBLISHED


# --- 2. SIGKILL in the middle, restart ---------------------------------------------------------

FIRST_BATCH = 300
LATE_BATCH = 20
KILL_AFTER = 25  # objects listed in the bucket before the kill


def test_sigkill_mid_run_then_restart_publishes_every_file_exactly_once(
    workspace: Callable[..., Workspace], launch: Callable[..., Watcher]
) -> None:
    # The site is rendered but not uploaded: its hundreds of page PUTs are not what this is about.
    ws = workspace(site={"upload": False})
    bodies = {
        f"t{i:03d}.mp3": tone(ws.folder / f"t{i:03d}.mp3", f"#{i:05d}") for i in range(FIRST_BATCH)
    }
    expected = {PREFIX + name: body for name, body in bodies.items()}

    first = launch(ws)
    first.wait_for(lambda: ws.listed_at_least(KILL_AFTER), RUN_TIMEOUT, "the first objects")
    first.kill()

    # What the killed run left: objects appear in a listing only once completely stored.
    done_at_kill = ws.media_keys()
    assert KILL_AFTER <= len(done_at_kill) < FIRST_BATCH, "the kill did not land mid-run"
    for key in done_at_kill:
        assert ws.head(key) == (len(expected[key]), hashlib.sha256(expected[key]).hexdigest())
    with ws.store() as store:
        history_at_kill = {key: len(store.transitions(key)) for key in expected}
        state_at_kill = {item.key: item.state for item in store.items()}

    # Files dropped while the service is down are caught up at the restart.
    for i in range(LATE_BATCH):
        name = f"late/n{i:02d}.mp3"
        expected[PREFIX + name] = tone(ws.folder / name, f"late-{i:02d}")

    second = launch(ws)
    with ws.store() as store:

        def all_published() -> bool:
            return len(store.items_in(PUBLISHED)) == len(expected)

        second.wait_for(all_published, RUN_TIMEOUT, f"{len(expected)} published items")
    assert second.terminate() == 0, second.tail()
    assert second.saw(STOPPING)
    assert_no_crash(first.stderr)
    assert_no_crash(second.stderr)

    # Every object is there with the right bytes, and nothing else is in the bucket.
    keys = ws.keys()
    assert set(keys) - set(expected) <= {"crossdomain.xml"}, sorted(set(keys) - set(expected))
    assert {k: v for k, v in keys.items() if k.startswith(PREFIX)} == {
        key: len(body) for key, body in expected.items()
    }
    wrong = [key for key, body in expected.items() if ws.fetch(key) != body]
    assert not wrong, wrong
    assert distributions_for(ws) == (1, 1)

    with ws.store() as store:
        items = {item.key: item for item in store.items()}
        history = {key: states(store, key) for key in expected}
    assert set(items) == set(expected)
    assert {key for key, item in items.items() if item.state != PUBLISHED} == set()
    for key, states_of_key in history.items():
        after_kill = states_of_key[history_at_kill.get(key, 0) :]
        assert states_of_key.count(PUBLISHED) == 1, (key, states_of_key)
        if key in done_at_kill:
            # Stored completely before the kill: never uploaded again.
            assert UPLOADING not in after_kill, (key, states_of_key)
            assert states_of_key.count(UPLOADING) == 1, (key, states_of_key)
        else:
            # Not stored before the kill (never started, or cut off): uploaded once after it.
            assert after_kill.count(UPLOADING) == 1, (key, states_of_key)
    # Stored but not recorded when killed: recorded at the restart without another upload.
    unrecorded = [k for k in done_at_kill if state_at_kill.get(k) != PUBLISHED]
    with ws.store() as store:
        for key in unrecorded:
            published = [d for s, _, d in store.transitions(key) if s == PUBLISHED]
            assert published == ["already in the bucket"], (key, store.transitions(key))

    # A rescan while a file is queued or uploading must not make it `detected` again once it is
    # published and unchanged.
    redetected = sorted(
        key
        for key, states_of_key in history.items()
        if DETECTED in states_of_key[states_of_key.index(PUBLISHED) :]
    )
    assert not redetected, (
        f"{len(redetected)} of {len(expected)} published, unchanged files were detected again "
        f"after publishing, e.g. {redetected[:3]}"
    )


# --- 3. endpoint outage ------------------------------------------------------------------------


def test_endpoint_outage_is_retried_and_nothing_is_lost(
    stack: LocalStack, workspace: Callable[..., Workspace], launch: Callable[..., Watcher]
) -> None:
    port = int(urllib.parse.urlsplit(stack.endpoint_url).port or 0)
    with TcpProxy(port, lifetime=3 * RUN_TIMEOUT) as proxy:
        ws = workspace(watch={"max_attempts": 10}, endpoint_url=proxy.url)
        # One object is already in the bucket with the hash metadata, as an earlier run whose
        # state store was lost left it: its file, dropped during the outage, needs only a HEAD.
        already = TONE + b"already"
        ws.s3.create_bucket(Bucket=ws.bucket)
        ws.s3.put_object(
            Bucket=ws.bucket,
            Key="media/already.mp3",
            Body=already,
            ContentType="audio/mpeg",
            ACL="public-read",
            Metadata={"sha256": hashlib.sha256(already).hexdigest()},
        )
        first = tone(ws.folder / "first.mp3", "first")
        watcher = launch(ws)
        # The service is up (infrastructure ensured through the proxy) once a file is through,
        # and the site is rendered so that no site upload is pending during the outage.
        watcher.wait_for_line("first.mp3: published as media/first.mp3")
        watcher.wait_for_line("site rendered")

        proxy.stop()
        # First, so that a worker takes it before the others (each attempt can take a while).
        (ws.folder / "already.mp3").write_bytes(already)
        dropped = {f"o{i}.mp3": tone(ws.folder / f"o{i}.mp3", f"outage-{i}") for i in range(5)}

        def failed_while_down() -> bool:
            lines = watcher.events()
            retried = any(": attempt 1 failed (" in e and "; retrying in " in e for e in lines)
            checked = any(
                e.startswith(("already.mp3: attempt 1", "already.mp3: unexpected")) for e in lines
            )
            return retried and checked

        watcher.wait_for(
            failed_while_down, RUN_TIMEOUT, "failed attempts while the endpoint is down"
        )
        assert set(ws.media_keys()) == {"media/first.mp3", "media/already.mp3"}
        proxy.start()

        everything = {"first.mp3": first, "already.mp3": already, **dropped}
        with ws.store() as store:

            def all_published() -> bool:
                done = {item.source for item in store.items_in(PUBLISHED)}
                return set(everything) <= done

            watcher.wait_for(all_published, RUN_TIMEOUT, "every file dropped during the outage")
        assert watcher.terminate() == 0, watcher.tail()

    assert watcher.saw(STOPPING)
    # Nothing lost: every file is published with its bytes, and still in the folder.
    for name, body in everything.items():
        assert ws.fetch(PREFIX + name) == body, name
        assert (ws.folder / name).read_bytes() == body
    assert set(ws.media_keys()) == {PREFIX + name for name in everything}
    with ws.store() as store:
        for name in everything:
            item = store.get_item(PREFIX + name)
            assert item is not None and item.state == PUBLISHED and item.attempts <= 10, item
        # The object that was there already is recorded, not uploaded again.
        history = store.transitions("media/already.mp3")
        assert UPLOADING not in [state for state, _, _ in history], history
        assert [d for state, _, d in history if state == PUBLISHED] == ["already in the bucket"]

    # A HEAD that cannot connect is a failed attempt that backs off and is retried, not an
    # unexpected error.
    crashes = [e for e in watcher.events() if "unexpected error" in e]
    retried = [e for e in watcher.events() if e.startswith("already.mp3: attempt 1 failed (")]
    assert retried and not crashes and not watcher.saw("Traceback"), (
        f"already.mp3 was not retried; {len(crashes)} 'unexpected error' lines: {crashes[:2]}"
    )


# --- 4. SIGTERM during a big upload ------------------------------------------------------------

BIG_MIB = 80  # above the multipart threshold (64 MiB): several parts, long enough to catch


def test_sigterm_during_a_big_upload_finishes_or_aborts_cleanly(
    workspace: Callable[..., Workspace], launch: Callable[..., Watcher]
) -> None:
    ws = workspace()
    big = ws.folder / "big.mp4"
    digest = hashlib.sha256()
    with big.open("wb") as out:  # a real MP4 at the start (that is what is sniffed), then zeros
        out.write(CLIP)
        digest.update(CLIP)
        zeros = bytes(1 << 20)
        for _ in range(BIG_MIB):
            out.write(zeros)
            digest.update(zeros)
    size, sha256 = big.stat().st_size, digest.hexdigest()
    key = "media/big.mp4"

    def uploads_in_progress() -> list[dict[str, Any]]:
        reply = ws.s3.list_multipart_uploads(Bucket=ws.bucket, Prefix=key)
        uploads: list[dict[str, Any]] = reply.get("Uploads", [])
        return uploads

    try:
        watcher = launch(ws)
        watcher.wait_for_line("big.mp4: uploading")
        in_flight: list[dict[str, Any]] = []

        def started_or_done() -> bool:
            in_flight.extend(uploads_in_progress())
            return bool(in_flight) or ws.head(key) is not None

        watcher.wait_for(started_or_done, RUN_TIMEOUT, "the multipart upload to start")
        assert in_flight, "the upload finished before it was seen in flight; raise BIG_MIB"
        code = watcher.terminate()

        assert code == 0, watcher.tail()
        assert watcher.saw(STOPPING)
        assert_no_crash(watcher.stderr)
        assert uploads_in_progress() == [], "a multipart upload was left behind"
        assert big.stat().st_size == size, "the file must stay in the folder"
        stored = ws.head(key)
        with ws.store() as store:
            item = store.get_item(key)
        if stored is not None:  # finished: complete, verified, recorded
            assert stored == (size, sha256)
            assert ws.fetch_sha256(key) == sha256
            assert item is not None and item.state == PUBLISHED, item
            lines = watcher.stderr
            assert lines.index(STOPPING) < next(
                i for i, line in enumerate(lines) if "big.mp4: published as media/big.mp4" in line
            ), "published before the signal: the test did not catch the upload in flight"
        else:  # aborted: nothing half-published, nothing recorded as published
            assert item is None or item.state != PUBLISHED, item
    finally:
        with contextlib.suppress(Exception):
            for upload in uploads_in_progress():
                ws.s3.abort_multipart_upload(Bucket=ws.bucket, Key=key, UploadId=upload["UploadId"])
            ws.s3.delete_object(Bucket=ws.bucket, Key=key)  # frees the shared stack's memory
        big.unlink(missing_ok=True)


# --- 5. mediapub retry -------------------------------------------------------------------------


def test_retry_makes_a_failed_item_eligible_again(workspace: Callable[..., Workspace]) -> None:
    ws = workspace()
    (ws.folder / "clip.mp4").write_bytes(CLIP)
    (ws.folder / "empty.mp4").write_bytes(b"")
    key = "media/empty.mp4"

    first = run_once(ws)
    assert first.returncode == ExitStatus.PARTIAL, first.stderr
    with ws.store() as store:
        item = store.get_item(key)
        assert item is not None and (item.state, item.error_code, item.attempts) == (
            FAILED,
            "empty",
            1,
        )
        assert states(store, key).count(FAILED) == 1

    retried = run_command(ws, "retry", "empty.mp4")
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.splitlines() == [
        "will retry media/empty.mp4",
        "1 item(s) will be retried by `mediapub watch`.",
    ]
    with ws.store() as store:
        item = store.get_item(key)
        assert item is not None and (item.state, item.attempts) == (DETECTED, 0), item
        last_state, _, last_detail = store.transitions(key)[-1]
        assert (last_state, last_detail) == (DETECTED, "retry requested")

    second = run_once(ws)
    assert second.returncode == ExitStatus.PARTIAL, second.stderr
    assert second.stderr.splitlines()[-1] == "Published 0, unchanged 0, failed 1."
    lines = events(second.stderr)
    assert any(line.startswith("empty.mp4: failed (empty): ") for line in lines), lines
    assert not any(line.startswith("clip.mp4:") for line in lines), lines  # published: left be
    with ws.store() as store:
        item = store.get_item(key)
        assert item is not None and (item.state, item.error_code, item.attempts) == (
            FAILED,
            "empty",
            1,
        )
        history = store.transitions(key)
        assert [state for state, _, _ in history].count(FAILED) == 2, history
        retry_at = [detail for _, _, detail in history].index("retry requested")
        assert history[-1][0] == FAILED and retry_at < len(history) - 1, history
        assert states(store, "media/clip.mp4").count(UPLOADING) == 1
    assert (ws.folder / "empty.mp4").read_bytes() == b""

    missing = run_command(ws, "retry", "nothing.mp4")
    assert missing.returncode == ExitStatus.USAGE
    assert missing.stderr == "Error: nothing.mp4: no failed item has this key or source path.\n"
    assert missing.stdout == ""
