"""mediapub's upload speed side by side with the standard tools, against a local S3 server.

For each suite a fresh S3 server (moto's, in its own process, so its CPU time can be read from
/proc and it shares no GIL with the clients) serves generated media files to each tool in turn,
interleaved: every round runs every tool once, in a rotated order, and the tables report
medians. Every run starts from an empty server (moto is reset after each run) and a new bucket;
mediapub also starts from a new state and site folder, and creates its buckets, download
distribution, player files and site as part of the measured job (the other tools get their
bucket made for them before the clock starts).

After every run each object is checked with an anonymous HEAD on its path-style URL: present,
publicly readable, the right size and content type (and for mediapub, the SHA-256 metadata).
The server's request log counts the requests each run made on the media keys.

Usage: python bench/bench.py [--suites empty,small,medium,20mib,512mib] [--rounds 3]
[--tools mediapub,boto3,raw,awscli,rclone] [--extras help,render,watch] [--tiny]
[--out bench/RESULTS.md] [--json FILE]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import datetime
import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import raw_put

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
KIB, MIB = 1024, 1024 * 1024
PREFIX = "media/"
CONTENT_TYPE = "audio/mpeg"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "mediapub-bench", "AWS_SECRET_ACCESS_KEY": "bench"}
# An ID3v2 tag and an MPEG-1 Layer III frame header: mediapub's content sniffing accepts the
# file as an MP3, and audio items get no derived files (no ffmpeg), so every tool does the
# same uploads.
MP3_HEAD = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes([0xFF, 0xFB, 0x90, 0x64])
ANALYSIS = "## Analysis"


@dataclass(frozen=True)
class Suite:
    name: str
    count: int
    size: int
    republish: bool = False  # also time publishing the same files again with mediapub

    @property
    def label(self) -> str:
        if not self.count:
            return "empty folder"
        size = f"{self.size // MIB} MiB" if self.size >= MIB else f"{self.size // KIB} KiB"
        return f"{self.count:,} x {size}"


SUITES = {
    s.name: s
    for s in (
        Suite("tiny", 4, 64 * KIB, republish=True),
        Suite("empty", 0, 0),
        Suite("small", 300, 200 * KIB),
        Suite("medium", 2000, 200 * KIB, republish=True),
        Suite("20mib", 20, 20 * MIB),
        Suite("512mib", 1, 512 * MIB),
    )
}
TOOLS = ("mediapub", "mediapub-nosite", "boto3", "raw", "awscli", "rclone")


@dataclass
class Run:
    """One tool's run on one suite in one round."""

    tool: str
    suite: str
    round: int
    wall: float = 0.0
    cpu: float = 0.0  # the client process and its children, user + system
    server_cpu: float = 0.0
    peak_mb: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)  # on media keys, by method
    all_requests: int = 0
    ok: bool = False
    problems: list[str] = field(default_factory=list)


@dataclass
class Measured:
    """What one command did: wall time, CPU, peak memory, exit status and output."""

    wall: float
    cpu: float
    peak_mb: float
    status: int
    output: str


# --- processes ------------------------------------------------------------------------------


def measure(argv: list[str], env: dict[str, str], cwd: Path) -> Measured:
    """Run `argv` to the end; CPU and peak RSS come from its own rusage (wait4)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return Measured(
        wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, text
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mediapub_command() -> list[str]:
    script = Path(sys.executable).parent / "mediapub"
    if script.exists():
        return [str(script)]
    found = shutil.which("mediapub")
    return [found] if found else [sys.executable, "-m", "pipeline"]


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MEDIAPUB_"))}
    env.update(CREDENTIALS, AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.devnull)
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return env


class Server:
    """moto's S3 server in its own process, its request log in a file."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"server-{self.port}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=base_env(),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            if self.proc.poll() is not None:
                break
            threading.Event().wait(0.05)
        self.stop()
        raise SystemExit(f"moto server did not start: see {self.log_path}")

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def log_offset(self) -> int:
        return self.log_path.stat().st_size

    def requests_since(self, offset: int) -> list[tuple[str, str]]:
        """(method, path) of every request logged after `offset`."""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
        return re.findall(r'"([A-Z]+) (/\S*) HTTP/1\.[01]"', text)

    def reset(self) -> None:
        request("POST", self.endpoint, "/moto-api/reset")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def request(
    method: str, endpoint: str, path: str, connection: http.client.HTTPConnection | None = None
) -> http.client.HTTPResponse:
    url = urllib.parse.urlsplit(endpoint)
    conn = connection or http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    conn.request(method, path)
    reply = conn.getresponse()
    reply.read()
    return reply


# --- data ----------------------------------------------------------------------------------


@dataclass
class DataSet:
    folder: Path
    files: dict[str, tuple[int, str]]  # key -> (size, sha256)

    @property
    def bytes(self) -> int:
        return sum(size for size, _ in self.files.values())


def make_data(suite: Suite, root: Path) -> DataSet:
    """`suite.count` MP3-like files of random bytes (each different), in two folders."""
    folder = root / f"data-{suite.name}"
    folder.mkdir(parents=True)
    files: dict[str, tuple[int, str]] = {}
    for n in range(suite.count):
        relpath = f"set{n % 2}/clip-{n:05d}.mp3"
        path = folder / relpath
        path.parent.mkdir(exist_ok=True)
        digest = hashlib.sha256()
        with path.open("wb") as out:
            head = MP3_HEAD + n.to_bytes(8, "big")
            out.write(head)
            digest.update(head)
            left = suite.size - len(head)
            while left > 0:
                block = os.urandom(min(left, MIB))
                out.write(block)
                digest.update(block)
                left -= len(block)
        files[PREFIX + relpath] = (suite.size, digest.hexdigest())
    return DataSet(folder, files)


# --- tools --------------------------------------------------------------------------------


@dataclass
class Job:
    """One run's setting: where the server is, the bucket to fill, a folder of its own."""

    endpoint: str
    bucket: str
    data: DataSet
    workdir: Path


def mediapub_config(job: Job, site_upload: bool = True) -> Path:
    config = job.workdir / "mediapub.toml"
    config.write_text(
        "\n".join(
            [
                'target = "aws"',
                f'endpoint_url = "{job.endpoint}"',
                'delivery = ["http"]',
                'site_dir = "site"',
                'state_dir = "state"',
                "[streaming]",
                f'bucket = "{job.bucket}"',
                f'prefix = "{PREFIX}"',
                "[player]",
                f'bucket = "{job.bucket}-site"',
                "[site]",
                f"upload = {'true' if site_upload else 'false'}",
                "",
            ]
        )
    )
    return config


def mediapub_argv(job: Job) -> list[str]:
    config = str(job.workdir / "mediapub.toml")
    return [*mediapub_command(), "publish", str(job.data.folder), "--config", config]


def boto3_argv(job: Job) -> list[str]:
    script = str(BENCH / "boto3_put.py")
    return [sys.executable, script, job.endpoint, job.bucket, PREFIX, str(job.data.folder)]


def raw_argv(job: Job) -> list[str]:
    script = str(BENCH / "raw_put.py")
    return [sys.executable, script, job.endpoint, job.bucket, PREFIX, str(job.data.folder)]


def awscli_argv(job: Job) -> list[str]:
    target = f"s3://{job.bucket}/{PREFIX}"
    return [
        *[AWS_CLI, "s3", "cp", str(job.data.folder), target, "--recursive"],
        *["--acl", "public-read", "--endpoint-url", job.endpoint, "--only-show-errors"],
    ]


def rclone_argv(job: Job) -> list[str]:
    return [
        *[RCLONE, "copy", str(job.data.folder), f":s3:{job.bucket}/{PREFIX.rstrip('/')}"],
        *["--config", os.devnull, "--transfers", "8", "--s3-provider", "Other"],
        *["--s3-endpoint", job.endpoint, "--s3-region", "us-east-1", "--s3-acl", "public-read"],
        *["--s3-access-key-id", CREDENTIALS["AWS_ACCESS_KEY_ID"]],
        *["--s3-secret-access-key", CREDENTIALS["AWS_SECRET_ACCESS_KEY"]],
        *["--s3-force-path-style=true", "--s3-no-check-bucket"],
    ]


AWS_CLI = "/usr/bin/aws" if Path("/usr/bin/aws").exists() else ""
RCLONE = shutil.which("rclone") or ""
ARGV: dict[str, Callable[[Job], list[str]]] = {
    "mediapub": mediapub_argv,
    "mediapub-nosite": mediapub_argv,
    "boto3": boto3_argv,
    "raw": raw_argv,
    "awscli": awscli_argv,
    "rclone": rclone_argv,
}
LABELS = {
    "mediapub": "mediapub publish",
    "mediapub-nosite": "mediapub publish, site.upload = false",
    "boto3": "boto3 TransferManager",
    "raw": "raw signed PUTs (8 conn.)",
    "awscli": "aws s3 cp (CLI v2)",
    "rclone": "rclone copy --transfers 8",
}


def missing_tool(tool: str) -> str:
    if tool == "awscli" and not AWS_CLI:
        return "AWS CLI v2 not installed (/usr/bin/aws; Debian package awscli)"
    if tool == "rclone" and not RCLONE:
        return "rclone not installed (Debian package rclone)"
    return ""


def create_bucket(endpoint: str, bucket: str) -> None:
    """A signed `PUT /bucket`: the harness stays small (no boto3), which matters because a
    child's peak-memory figure starts from its parent's."""
    url = urllib.parse.urlsplit(endpoint)
    headers = raw_put.signed_headers(
        "PUT",
        url.netloc,
        f"/{bucket}",
        {},
        "us-east-1",
        (CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"]),
    )
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    connection.request("PUT", f"/{bucket}", b"", {**headers, "Content-Length": "0"})
    reply = connection.getresponse()
    reply.read()
    connection.close()
    if reply.status != 200:
        raise SystemExit(f"creating bucket {bucket}: HTTP {reply.status}")


# --- one run ---------------------------------------------------------------------------------


def verify(endpoint: str, bucket: str, data: DataSet, with_hash: bool) -> list[str]:
    """Problems with the objects, seen by an anonymous client: empty when all is well."""
    url = urllib.parse.urlsplit(endpoint)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    problems = []
    for key, (size, sha256) in sorted(data.files.items()):
        reply = request("HEAD", endpoint, "/" + urllib.parse.quote(f"{bucket}/{key}"), connection)
        found = (
            reply.status,
            reply.getheader("Content-Length"),
            (reply.getheader("Content-Type") or "").split(";")[0],
        )
        if found != (200, str(size), CONTENT_TYPE):
            problems.append(f"{key}: {found}, expected (200, {size}, {CONTENT_TYPE})")
        elif with_hash and reply.getheader("x-amz-meta-sha256") != sha256:
            problems.append(f"{key}: sha256 metadata {reply.getheader('x-amz-meta-sha256')}")
    connection.close()
    return problems


def run_once(
    tool: str, suite: Suite, round_: int, server: Server, data: DataSet, root: Path
) -> Run:
    bucket = f"{tool}-{suite.name}-r{round_}"
    job = Job(server.endpoint, bucket, data, root / f"{bucket}")
    job.workdir.mkdir()
    if tool.startswith("mediapub"):
        mediapub_config(job, site_upload=tool == "mediapub")
    else:
        create_bucket(server.endpoint, bucket)
    run = Run(tool, suite.name, round_)
    offset, cpu_before = server.log_offset(), server.cpu()
    done = measure(ARGV[tool](job), base_env(), job.workdir)
    run.server_cpu = server.cpu() - cpu_before
    run.wall, run.cpu, run.peak_mb = done.wall, done.cpu, done.peak_mb
    logged = server.requests_since(offset)
    run.all_requests = len(logged)
    media = f"/{bucket}/{PREFIX}"
    run.requests = dict(collections.Counter(m for m, path in logged if path.startswith(media)))
    if done.status != 0:
        run.problems.append(f"exit status {done.status}: {done.output.strip()[-600:]}")
    run.problems += verify(server.endpoint, bucket, data, with_hash=tool.startswith("mediapub"))
    run.ok = not run.problems
    if tool == "mediapub" and suite.republish and run.ok:
        REPUBLISHED.append(republish(job, server, suite, round_))
    server.reset()
    shutil.rmtree(job.workdir, ignore_errors=True)
    return run


REPUBLISHED: list[Run] = []


def republish(job: Job, server: Server, suite: Suite, round_: int) -> Run:
    """The same `mediapub publish` again, with its state: nothing should be uploaded."""
    run = Run("mediapub again", suite.name, round_)
    offset, cpu_before = server.log_offset(), server.cpu()
    done = measure(mediapub_argv(job), base_env(), job.workdir)
    run.server_cpu = server.cpu() - cpu_before
    run.wall, run.cpu, run.peak_mb = done.wall, done.cpu, done.peak_mb
    logged = server.requests_since(offset)
    run.all_requests = len(logged)
    media = f"/{job.bucket}/{PREFIX}"
    run.requests = dict(collections.Counter(m for m, path in logged if path.startswith(media)))
    puts = sum(1 for m, _ in logged if m in ("PUT", "POST"))
    if done.status != 0:
        run.problems.append(f"exit status {done.status}: {done.output.strip()[-600:]}")
    if puts:
        run.problems.append(f"{puts} writes on republishing unchanged files")
    run.ok = not run.problems
    return run


def run_suite(suite: Suite, tools: list[str], rounds: int, root: Path) -> list[Run]:
    data = make_data(suite, root)
    server = Server(root)
    runs = []
    try:
        for round_ in range(rounds):
            shift = round_ % len(tools)
            for tool in tools[shift:] + tools[:shift]:
                run = run_once(tool, suite, round_, server, data, root)
                runs.append(run)
                state = "ok" if run.ok else "FAILED: " + "; ".join(run.problems[:3])
                progress(f"{suite.name} r{round_} {tool}: {run.wall:.3f} s {state}")
    finally:
        server.stop()
        shutil.rmtree(data.folder, ignore_errors=True)
    return runs


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- start-up, render, watcher ---------------------------------------------------------------


def time_help(times: int = 7) -> float:
    walls = [measure([*mediapub_command(), "--help"], base_env(), REPO).wall for _ in range(times)]
    return statistics.median(walls)


def time_render(items: int, root: Path, times: int = 3) -> tuple[float, str]:
    """`mediapub render` of a state store holding `items` published items."""
    from pipeline.state import PUBLISHED, InfraRecord, Item, open_store

    folder = root / "render"
    folder.mkdir()
    (folder / "mediapub.toml").write_text(
        'target = "aws"\nendpoint_url = "http://127.0.0.1:9"\ndelivery = ["http"]\n'
        'site_dir = "site"\nstate_dir = "state"\n'
    )
    store = open_store(folder / "state")
    store.put_infra(
        InfraRecord(
            "download_distribution", "EBENCH", "d1bench.cloudfront.net", data={"https": True}
        )
    )
    for n in range(items):
        key = f"{PREFIX}set{n % 10}/clip-{n:05d}.mp4"
        store.put_item(
            Item(
                key=key, bucket="mediapub-media", source=key[len(PREFIX) :],
                source_path=f"/srv/media/{key}", size=1_000_000 + n, sha256=f"{n:064x}",
                content_type="video/mp4", kind="video", stream_name=f"mp4:{key}",
                title=f"clip {n:05d}", state=PUBLISHED, published_at="2026-01-01T00:00:00Z",
                probe={"duration": 60.0 + n % 600, "width": 1280, "height": 720},
            )
        )  # fmt: skip
    store.close()
    argv = [*mediapub_command(), "render", "--config", str(folder / "mediapub.toml")]
    results = [measure(argv, base_env(), folder) for _ in range(times)]
    failed = [r.output for r in results if r.status != 0]
    return statistics.median(r.wall for r in results), failed[0][-400:] if failed else ""


def run_watch_bench(idle_seconds: float) -> list[str]:
    argv = [sys.executable, str(BENCH / "watch_bench.py"), "--idle-seconds", str(idle_seconds)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return lines if done.returncode == 0 else [*lines, f"watch_bench failed: {done.stderr[-400:]}"]


# --- report ----------------------------------------------------------------------------------


def median_of(runs: list[Run], attr: str) -> float:
    return statistics.median(float(getattr(r, attr)) for r in runs)


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, IndexError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / MIB:.0f} GiB RAM"
    return f"{os.cpu_count()} cores ({model}){memory}, Linux {platform.release()}"


def versions() -> str:
    parts = [f"Python {platform.python_version()}"]
    parts += [f"{name} {metadata.version(name)}" for name in ("boto3", "s3transfer", "moto")]
    if AWS_CLI:
        out = subprocess.run([AWS_CLI, "--version"], capture_output=True, text=True, check=False)
        parts.append(out.stdout.split()[0] if out.stdout else "aws-cli ?")
    if RCLONE:
        out = subprocess.run([RCLONE, "version"], capture_output=True, text=True, check=False)
        parts.append(out.stdout.splitlines()[0] if out.stdout else "rclone ?")
    return ", ".join(parts)


def ratio(runs: dict[str, list[Run]], tool: str, base: str) -> str:
    if tool not in runs or base not in runs:
        return "-"
    return f"{median_of(runs[tool], 'wall') / median_of(runs[base], 'wall'):.2f}x"


def suite_table(suite: Suite, runs: list[Run], data_bytes: int) -> list[str]:
    by_tool: dict[str, list[Run]] = collections.defaultdict(list)
    for run in runs:
        by_tool[run.tool].append(run)
    lines = [
        f"### {suite.label} ({len({r.round for r in runs})} rounds, medians)",
        "",
        "| tool | wall s | files/s | MB/s | client CPU s | server CPU s | peak MB "
        "| media requests / file | vs raw | vs boto3 | vs aws cli | checks |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for tool, tool_runs in by_tool.items():
        wall = median_of(tool_runs, "wall")
        requests = collections.Counter[str]()
        for run in tool_runs:
            requests.update(run.requests)
        per_file = (
            ", ".join(
                f"{n / len(tool_runs) / suite.count:.2f} {method}"
                for method, n in sorted(requests.items())
            )
            if suite.count
            else "-"
        )
        ok = sum(r.ok for r in tool_runs)
        lines.append(
            f"| {LABELS[tool]} | {wall:.3f} | "
            f"{suite.count / wall:.0f} | {data_bytes / 1e6 / wall:.1f} | "
            f"{median_of(tool_runs, 'cpu'):.2f} | {median_of(tool_runs, 'server_cpu'):.2f} | "
            f"{median_of(tool_runs, 'peak_mb'):.0f} | {per_file or '-'} | "
            f"{ratio(by_tool, tool, 'raw')} | {ratio(by_tool, tool, 'boto3')} | "
            f"{ratio(by_tool, tool, 'awscli')} | {ok}/{len(tool_runs)} ok |"
        )
    return [*lines, ""]


@dataclass
class Target:
    what: str
    wanted: str
    measured: str
    met: bool | None  # None: not measured in this run


def targets(runs: dict[str, list[Run]], again: list[Run], extras: dict[str, Any]) -> list[Target]:
    found: list[Target] = []

    def add(what: str, wanted: str, measured: str, met: bool) -> None:
        found.append(Target(what, wanted, measured, met))

    def mine(suite: str, tool: str) -> list[Run]:
        return [r for r in runs.get(suite, []) if r.tool == tool]

    def versus(suite: str, tool: str, base: str, limit: float) -> None:
        ours, theirs = mine(suite, tool), mine(suite, base)
        if ours and theirs:
            value = median_of(ours, "wall") / median_of(theirs, "wall")
            what = f"{SUITES[suite].label}: {LABELS[tool]} vs {LABELS[base]}"
            add(what, f"<= {limit}x", f"{value:.2f}x", value <= limit)

    for suite in ("small", "medium"):
        for tool in ("mediapub", "mediapub-nosite"):
            versus(suite, tool, "raw", 1.25)
            versus(suite, tool, "boto3", 0.9)
            versus(suite, tool, "awscli", 0.75)
        ours = mine(suite, "mediapub")
        if ours:
            count = SUITES[suite].count
            seen = ", ".join(f"{m} {n}" for m, n in sorted(ours[0].requests.items()))
            exact = all(r.requests == {"PUT": count} for r in ours)
            add(f"{SUITES[suite].label}: requests on the media keys", f"PUT {count}", seen, exact)
    versus("20mib", "mediapub", "raw", 1.5)
    versus("512mib", "mediapub", "boto3", 1.0)
    big = mine("512mib", "mediapub")
    if big:
        peak = median_of(big, "peak_mb")
        add("512 MiB: mediapub peak memory", "<= 200 MB", f"{peak:.0f} MB", peak <= 200)
    for suite in sorted({r.suite for r in again}):
        those = [r for r in again if r.suite == suite]
        value, ok = median_of(those, "wall"), all(r.ok for r in those)
        measured = f"{value:.3f} s, " + ("no uploads" if ok else "UPLOADS or errors")
        add(
            f"republishing {SUITES[suite].label} unchanged",
            "<= 1.5 s, no uploads",
            measured,
            ok and value <= 1.5,
        )
    if "help" in extras:
        value = extras["help"]
        add("`mediapub --help`", "<= 0.25 s", f"{value:.3f} s", value <= 0.25)
    if "render" in extras:
        value, error = extras["render"]
        measured = f"{value:.3f} s" + (f" (failed: {error})" if error else "")
        add("`mediapub render`, 10,000 items", "<= 1 s", measured, value <= 1.0 and not error)
    return found


def report(
    runs: dict[str, list[Run]],
    sizes: dict[str, int],
    again: list[Run],
    extras: dict[str, Any],
    skipped: list[str],
    rounds: int,
    previous: str,
) -> str:
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# mediapub upload benchmark",
        "",
        f"Generated by `bench/bench.py` (`make bench`) on {today}.",
        f"Machine: {machine()}.",
        f"Software: {versions()}.",
        "",
        "Method: one fresh moto S3 server process per suite; every tool runs once per round in "
        f"a rotated order ({rounds} rounds), medians reported. Each run starts from an empty "
        "server and a new bucket; mediapub also starts from an empty state and site folder and "
        "its wall time includes creating its two buckets, the download distribution, the "
        "player files, the site render and the site upload (`site.upload = true`), as well "
        "as its process start-up. The other tools' buckets are made before their clock "
        "starts. Client CPU and peak memory are the process's own rusage (with its children); "
        "server CPU is read from /proc. Every object is checked after every run with an "
        "anonymous HEAD (status 200, size, `Content-Type: audio/mpeg`; for mediapub also the "
        "`sha256` metadata). Files are random bytes behind an MP3 frame header, so mediapub "
        "makes no derived files (poster frames are for video).",
        "",
    ]
    for note in skipped:
        lines.append(f"- Skipped: {note}")
    if skipped:
        lines.append("")
    lines += ["## Targets", "", "| target | wanted | measured | |", "|---|---|---|---|"]
    for target in targets(runs, again, extras):
        mark = "met" if target.met else "missed"
        lines.append(f"| {target.what} | {target.wanted} | {target.measured} | {mark} |")
    lines += ["", "## Uploads", ""]
    for name, suite_runs in runs.items():
        lines += suite_table(SUITES[name], suite_runs, sizes[name])
    if again:
        lines += [
            "### Publishing the same files again",
            "",
            "| data set | wall s (median) | client CPU s | requests (all) | writes | checks |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for suite in sorted({r.suite for r in again}):
            mine = [r for r in again if r.suite == suite]
            lines.append(
                f"| {SUITES[suite].label} | {median_of(mine, 'wall'):.3f} | "
                f"{median_of(mine, 'cpu'):.2f} | {median_of(mine, 'all_requests'):.0f} | "
                f"{'none' if all(r.ok for r in mine) else 'SOME'} | "
                f"{sum(r.ok for r in mine)}/{len(mine)} ok |"
            )
        lines.append("")
    if extras:
        lines += ["## Start-up, site render, watcher", ""]
        if "help" in extras:
            lines.append(f"- `mediapub --help`: {extras['help']:.3f} s (median of 7 runs).")
        if "render" in extras:
            value, error = extras["render"]
            lines.append(
                f"- `mediapub render` of a state store with 10,000 published items: "
                f"{value:.3f} s wall, process start-up included (median of 3)"
                + (f"; FAILED: {error}" if error else ".")
            )
        for line in extras.get("watch", []):
            lines.append(f"- watcher (`bench/watch_bench.py`): {line}")
        lines.append("")
    return "\n".join(lines) + previous


def previous_analysis(path: Path) -> str:
    """The hand-written analysis at the end of an earlier report, kept across runs."""
    if not path.exists():
        return ""
    text = path.read_text()
    at = text.find("\n" + ANALYSIS)
    return text[at:] if at >= 0 else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suites", default="empty,small,medium,20mib,512mib")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--extras", default="help,render,watch", help="or 'none'")
    parser.add_argument("--watch-idle-seconds", type=float, default=60.0)
    parser.add_argument("--tiny", action="store_true", help="4 small files, 1 round, no extras")
    parser.add_argument("--out", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument("--json", type=Path, help="also write every run as JSON here")
    args = parser.parse_args()
    if args.tiny:
        args.suites, args.rounds, args.extras = "tiny", 1, "none"
    suites = [SUITES[s] for s in args.suites.split(",") if s]
    extras_wanted = set() if args.extras == "none" else set(args.extras.split(","))
    tools, skipped = [], []
    for tool in args.tools.split(","):
        reason = missing_tool(tool)
        if reason:
            skipped.append(f"{LABELS[tool]}: {reason}")
        else:
            tools.append(tool)

    root = Path(tempfile.mkdtemp(prefix="mediapub-bench-"))
    runs: dict[str, list[Run]] = {}
    sizes: dict[str, int] = {}
    extras: dict[str, Any] = {}
    try:
        for suite in suites:
            sizes[suite.name] = suite.count * suite.size
            runs[suite.name] = run_suite(suite, tools, args.rounds, root)
        if "help" in extras_wanted:
            extras["help"] = time_help()
        if "render" in extras_wanted:
            extras["render"] = time_render(10_000, root)
        if "watch" in extras_wanted:
            extras["watch"] = run_watch_bench(args.watch_idle_seconds)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    text = report(
        runs, sizes, REPUBLISHED, extras, skipped, args.rounds, previous_analysis(args.out)
    )
    args.out.write_text(text)
    if args.json:
        every = [r for suite_runs in runs.values() for r in suite_runs] + REPUBLISHED
        args.json.write_text(
            json.dumps(
                {
                    "runs": [dataclasses.asdict(r) for r in every],
                    "skipped": skipped,
                    "extras": extras,
                },
                indent=1,
            )
        )
    print(text)
    failed = [r for suite_runs in runs.values() for r in suite_runs if not r.ok]
    failed += [r for r in REPUBLISHED if not r.ok]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
