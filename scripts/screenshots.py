"""Screenshots of the player site for the docs: docs/index.png and docs/player.png.

Runs `mediapub publish sample_media --serve` on the embedded local stack in a temporary working
folder, opens the index and the clip.mp4 player page in headless Chromium (the system
/usr/bin/chromium, driven by Playwright; no browser is downloaded) at 1000x700, and stops the
command with Ctrl-C (SIGINT) when done.

    python scripts/screenshots.py [--chromium /usr/bin/chromium] [--out docs]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
WIDTH, HEIGHT = 1000, 700
START_SECONDS = 120.0  # publishing sample_media on a fresh local stack takes a few seconds
TIMEOUT_MS = 15_000
PLAYER_ITEM = "clip.mp4"
CONTROLS_FADE_MS = 1000

# Decode every poster image the index shows, so none is caught half-loaded.
POSTERS_READY = """async () => {
    const images = Array.from(document.querySelectorAll("img"));
    images.forEach((img) => { img.loading = "eager"; });
    await Promise.all(images.map((img) => img.decode().catch(() => undefined)));
}"""
START = """() => {
    const media = document.querySelector("video.media");
    media.muted = true;
    window.__playError = "";
    media.play().catch((error) => { window.__playError = String(error); });
}"""
PLAYED = """() => {
    const media = document.querySelector("video.media");
    return media.currentTime > 1.0 || media.error !== null || window.__playError !== "";
}"""


def mediapub_command() -> list[str]:
    """The `mediapub` script beside this interpreter, on PATH, or `python -m pipeline`."""
    beside = Path(sys.executable).parent / "mediapub"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("mediapub")
    return [found] if found else [sys.executable, "-m", "pipeline"]


def read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        sys.stdout.write(line)
        lines.put(line)
    lines.put(None)


def wait_for_index(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> str:
    """The URL on the `index:` line that `--serve` prints once everything is published."""
    while True:
        try:
            line = lines.get(timeout=START_SECONDS)
        except queue.Empty:
            raise SystemExit(f"no index: line within {START_SECONDS:.0f} s") from None
        if line is None:
            raise SystemExit(f"mediapub exited with status {process.wait()} before serving")
        if line.strip().startswith("index:"):
            return line.split("index:", 1)[1].strip()


def page_url(index_url: str, manifest: dict[str, Any], source: str) -> str:
    entry = next(i for i in manifest["items"] if i["source"] == source)
    return index_url.removesuffix("index.html") + str(entry["page"])


def take(index_url: str, player_url: str, out: Path, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(index_url, wait_until="load")
            page.evaluate(POSTERS_READY)
            page.screenshot(path=str(out / "index.png"))
            print(f"wrote {out / 'index.png'}")

            page.goto(player_url, wait_until="load")
            page.evaluate(START)
            page.wait_for_function(PLAYED)
            error = page.evaluate(
                "() => window.__playError || (document.querySelector('video.media').error || {})"
                ".message || ''"
            )
            if error:
                raise SystemExit(f"{player_url}: the video does not play: {error}")
            # Paused on a frame, so the picture is sharp and the controls are shown. The controls
            # fade in inside the browser's own shadow tree, where no page script or Playwright
            # wait can see them, so this one waits a fixed time (a script, not a test).
            page.evaluate("() => document.querySelector('video.media').pause()")
            page.mouse.move(WIDTH / 2, HEIGHT / 2)
            page.wait_for_timeout(CONTROLS_FADE_MS)
            page.screenshot(path=str(out / "player.png"))
            print(f"wrote {out / 'player.png'}")
        finally:
            browser.close()


def stop(process: subprocess.Popen[str]) -> int:
    """Ctrl-C, as a user would; kill it only if it does not stop."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default=CHROMIUM, help=f"Chromium binary ({CHROMIUM})")
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="folder for the PNGs")
    args = parser.parse_args(argv)
    if not os.access(args.chromium, os.X_OK):
        raise SystemExit(f"{args.chromium} not found: apt-get install chromium")
    args.out.mkdir(parents=True, exist_ok=True)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MEDIAPUB_"))}
    env["MEDIAPUB_TARGET"] = "local"
    with tempfile.TemporaryDirectory(prefix="mediapub-screenshots-") as work:
        command = [*mediapub_command(), "publish", str(REPO / "sample_media"), "--serve"]
        process = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True).start()
        try:
            index_url = wait_for_index(process, lines)
            manifest = json.loads((Path(work) / "site" / "manifest.json").read_text("utf-8"))
            take(index_url, page_url(index_url, manifest, PLAYER_ITEM), args.out, args.chromium)
        finally:
            status = stop(process)
    if status != 0:
        print(f"mediapub exited with status {status} after Ctrl-C", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
