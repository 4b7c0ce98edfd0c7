"""The CLI boundary at start-up: help loads nothing heavy and reads as typer renders it, and
usage errors become the usage exit status."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.errors import ExitStatus

# Modules `mediapub --help` must not import: AWS, the local stack, templates, and the parts of
# rich that typer's help formatter imports but does not use here.
HEAVY = ("boto3", "botocore", "moto", "jinja2", "rich.markdown", "rich.traceback", "pygments")

RUN_MAIN = """
import sys
{preload}
from pipeline.cli import main
sys.argv = ["mediapub", *{args!r}]
code = main()
sys.stdout.flush()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r} or m in {heavy!r})
print("\\n--loaded:", heavy, "exit:", code, file=sys.stderr)
"""


def run_main(args: list[str], preload: str = "") -> subprocess.CompletedProcess[str]:
    code = RUN_MAIN.format(preload=preload, args=args, heavy=HEAVY)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize("args", [["--help"], [], ["render", "--help"]])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    done = run_main(args)
    assert "Usage: mediapub" in done.stdout
    assert "--loaded: [] exit:" in done.stderr, done.stderr


@pytest.mark.parametrize("args", [["--help"], ["publish", "--help"]])
def test_help_reads_as_with_every_rich_module_loaded(args: list[str]) -> None:
    fast = run_main(args)
    # With rich.markdown already imported, typer's formatter loads as it always did.
    full = run_main(args, preload="import rich.markdown, rich.traceback")
    assert fast.stdout == full.stdout
    assert "Commands" in fast.stdout or "Arguments" in fast.stdout


def test_usage_errors_exit_with_the_usage_status() -> None:
    unknown = run_main(["frobnicate"])
    assert "Error: No such command 'frobnicate'." in unknown.stderr
    assert f"exit: {int(ExitStatus.USAGE)}" in unknown.stderr
    missing = run_main(["publish"])
    assert "Error: Missing argument 'paths'." in missing.stderr
    assert f"exit: {int(ExitStatus.USAGE)}" in missing.stderr
    assert "Traceback" not in missing.stderr
