"""Measure the drop-folder service: time from a file's last write to its object being publicly
readable, and the service's idle CPU with an unchanging folder.

Runs `mediapub local` (the stack, in its own process) and `mediapub watch` against it, as a
user would, and measures from outside: anonymous HTTP GETs of the object and the watcher's CPU
time from /proc. Usage: python bench/watch_bench.py [--files 20] [--idle-files 1000]
[--stable 1.0] [--idle-seconds 60]
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TONE = (REPO / "sample_media" / "audio" / "tone.mp3").read_bytes()
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def mediapub() -> list[str]:
    script = Path(sys.executable).parent / "mediapub"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipeline"]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def readable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if condition():
            return True
        pause.wait(step)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--idle-files", type=int, default=1000)
    parser.add_argument("--stable", type=float, default=1.0)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mediapub-bench-"))
    drop = work / "dropbox"
    drop.mkdir()
    local = subprocess.Popen(
        [*mediapub(), "local"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert local.stdout is not None
    endpoint = local.stdout.readline().rsplit(" ", 1)[1].strip()
    (work / "mediapub.toml").write_text(
        f'target = "aws"\nendpoint_url = "{endpoint}"\n[site]\nupload = false\n'
        f"[watch]\nstable_seconds = {args.stable}\n"
    )
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "mediapub-local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }
    watcher = subprocess.Popen([*mediapub(), "watch"], cwd=work, env=env, stderr=subprocess.DEVNULL)
    try:
        base = f"{endpoint}/mediapub-media/media/"
        # The watcher is ready once it has made the buckets and crossdomain.xml.
        assert wait_for(lambda: readable(f"{endpoint}/mediapub-media/crossdomain.xml"), 60)

        latencies = []
        for n in range(args.files):
            path = drop / f"latency-{n:03d}.mp3"
            path.write_bytes(TONE + str(n).encode())
            written = time.monotonic()
            assert wait_for(functools.partial(readable, base + path.name), 30), path.name
            latencies.append(time.monotonic() - written)
        median = statistics.median(latencies)
        print(
            f"last write -> publicly readable, {args.files} files, stable_seconds = "
            f"{args.stable}: median {median:.3f} s (window + {median - args.stable:.3f} s), "
            f"min {min(latencies):.3f} s, max {max(latencies):.3f} s"
        )

        (drop / "idle").mkdir()
        for n in range(args.idle_files):
            (drop / "idle" / f"{n:04d}.mp3").write_bytes(TONE + f"idle{n}".encode())
        last = drop / "idle" / f"{args.idle_files - 1:04d}.mp3"
        assert wait_for(lambda: readable(base + "idle/" + last.name), 600, 0.5)
        pause = threading.Event()
        pause.wait(args.stable + 5)  # let the last batch and the site render finish
        before, start = cpu_seconds(watcher.pid), time.monotonic()
        pause.wait(args.idle_seconds)
        used, elapsed = cpu_seconds(watcher.pid) - before, time.monotonic() - start
        print(
            f"idle with {args.idle_files + args.files} published files: "
            f"{used:.2f} CPU s in {elapsed:.0f} s = {100 * used / elapsed:.2f}% of a core"
        )
    finally:
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(60)
        local.send_signal(signal.SIGINT)
        local.wait(60)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
