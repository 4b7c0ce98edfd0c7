"""Shared fixtures: one embedded local stack per test session, settings with fresh buckets."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import Settings, load_settings
from pipeline.context import LOCAL_CREDENTIALS, Context, build_context
from pipeline.local.stack import LocalStack

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_media"
# In CI a missing tool fails the run; on a developer's machine the test is skipped.
REQUIRED = bool(os.environ.get("CI"))


def unavailable(message: str) -> None:
    """A tool the test needs is missing: a failure in CI, a skip elsewhere."""
    if REQUIRED:
        pytest.fail(message)
    pytest.skip(message)


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        unavailable(f"needs {', '.join(missing)} (bash scripts/install-system-deps)")


def need_edges(stack: LocalStack) -> None:
    if not stack.rtmp_available:
        unavailable("needs nginx with the RTMP module (bash scripts/install-system-deps)")


def mediapub_command() -> list[str]:
    """The installed `mediapub` console script beside this interpreter."""
    script = Path(sys.executable).parent / "mediapub"
    if not script.exists():
        found = shutil.which("mediapub")
        if found is None:
            pytest.fail("the mediapub command is not installed (pip install -e .)")
        return [found]
    return [str(script)]


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    with LocalStack() as running:
        yield running


@pytest.fixture(autouse=True)
def _stack_edges_registered(request: pytest.FixtureRequest) -> None:
    """The local-stack unit tests install registries of their own; give the shared stack its
    edges back before each test that uses it."""
    if "stack" in request.fixturenames:
        from pipeline.local import cloudfront

        running: LocalStack = request.getfixturevalue("stack")
        cloudfront.install(running.edges, deploy_seconds=0)


def unique(name: str) -> str:
    return f"t{uuid.uuid4().hex[:10]}-{name}"


@pytest.fixture
def buckets() -> dict[str, str]:
    return {"streaming": unique("media"), "player": unique("player")}


def settings_for(folder: Path, buckets: dict[str, str], **overrides: Any) -> Settings:
    values = {"streaming.bucket": buckets["streaming"], "player.bucket": buckets["player"]}
    values.update(overrides)
    return load_settings(cwd=folder, env={}, overrides=values)


@pytest.fixture
def make_context(stack: LocalStack, tmp_path: Path, buckets: dict[str, str]) -> Iterator[Any]:
    """Build contexts on the shared stack; each test gets its own buckets and state."""
    made: list[Context] = []

    def make(**overrides: Any) -> Context:
        ctx = build_context(settings_for(tmp_path, buckets, **overrides), local=stack)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


@pytest.fixture
def aws_env(stack: LocalStack) -> dict[str, str]:
    """Environment for a `mediapub` subprocess that uses the shared stack as an endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MEDIAPUB_"))}
    env.update(
        AWS_ACCESS_KEY_ID=LOCAL_CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=LOCAL_CREDENTIALS["aws_secret_access_key"],
        AWS_DEFAULT_REGION="us-east-1",
        MEDIAPUB_TARGET="aws",
        MEDIAPUB_ENDPOINT_URL=stack.endpoint_url,
    )
    return env
