"""The benchmark harness keeps working: a tiny run produces a results table whose checks pass.

Runs `bench/bench.py --tiny` as a user would (a real moto server process, the real tools), then
reads the JSON record of every run and the Markdown report it wrote.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

TOOLS = "mediapub,boto3,raw"


def test_tiny_bench_produces_a_checked_table(tmp_path: Path) -> None:
    out, record = tmp_path / "RESULTS.md", tmp_path / "runs.json"
    command = [sys.executable, str(REPO / "bench" / "bench.py"), "--tiny", "--tools", TOOLS]
    done = subprocess.run(
        [*command, "--out", str(out), "--json", str(record)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    runs = json.loads(record.read_text())["runs"]
    assert sorted(r["tool"] for r in runs) == ["boto3", "mediapub", "mediapub again", "raw"]
    for run in runs:
        assert run["ok"], run["problems"]
        assert run["wall"] > 0
    uploads = {r["tool"]: r for r in runs if r["tool"] != "mediapub again"}
    for tool, run in uploads.items():
        # Four files, one PUT each, and nothing else on the media keys.
        assert run["requests"] == {"PUT": 4}, (tool, run["requests"])
    again = next(r for r in runs if r["tool"] == "mediapub again")
    assert again["requests"] == {}, again["requests"]

    table = out.read_text()
    assert "### 4 x 64 KiB (1 rounds, medians)" in table
    for label in ("mediapub publish", "boto3 TransferManager", "raw signed PUTs"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {label}"))
        assert row.endswith("| 1/1 ok |"), row
    assert "| republishing 4 x 64 KiB unchanged | <= 1.5 s, no uploads |" in table
