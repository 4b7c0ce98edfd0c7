"""`mediapub distributions list|show|enable|disable|delete` and `mediapub sign`. Part of the CLI.

Distributions are read from the configured target. On the embedded local stack each command
starts a fresh stack, so these commands are meant for AWS or for a stack that outlives them
(`mediapub local`, with `target = "aws"` and its `endpoint_url`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

distributions_app = typer.Typer(
    help="List, show, enable, disable and delete CloudFront distributions.",
    no_args_is_help=True,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: ./mediapub.toml, else defaults)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a machine-readable result.")]
IdArgument = Annotated[str, typer.Argument(help="Distribution id (see `distributions list`).")]
WaitOption = Annotated[bool, typer.Option("--wait", help="Wait until the change is deployed.")]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait before giving up (exit 6).")
]
DEFAULT_TIMEOUT = 25 * 60.0


@contextmanager
def _cloudfront(config: Path | None) -> Iterator[Any]:
    from pipeline.cli import _context, _settings

    settings = _settings(config)
    with _context(settings, aws=True) as ctx:
        yield ctx


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


@distributions_app.command("list")
def list_(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Both kinds of distribution: id, kind, domain, status, origin, CNAMEs, managed."""
    from pipeline import distributions

    with _cloudfront(config) as ctx:
        found, notes = distributions.list_all(ctx.cloudfront)
    if as_json:
        _echo_json({"distributions": [d.to_json() for d in found], "notes": notes})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("id", no_wrap=True, min_width=14)
    table.add_column("kind", no_wrap=True)
    for name in ("domain", "status", "enabled", "origin", "cnames", "comment", "price class"):
        table.add_column(name, overflow="fold")
    table.add_column("managed", no_wrap=True)
    for d in found:
        i = d.info
        table.add_row(
            i.id, i.kind, i.domain, i.status, "yes" if i.enabled else "no", ", ".join(i.origins),
            ", ".join(i.cnames), i.comment, i.price_class, "yes" if d.managed else "no",
        )  # fmt: skip
    console = Console()
    console.print(table)
    for note in notes:
        typer.echo(f"Note: {note}", err=True)


@distributions_app.command()
def show(dist_id: IdArgument, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """One distribution with its whole configuration."""
    from pipeline import distributions

    with _cloudfront(config) as ctx:
        described = distributions.describe(ctx.cloudfront, dist_id)
    data = {**described.to_json(), "config": described.config}
    if as_json:
        _echo_json(data)
        return
    for key, value in described.to_json().items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        typer.echo(f"{key:12} {shown}")
    typer.echo("config:")
    typer.echo(json.dumps(described.config, indent=2, sort_keys=True, default=str))


def _waiting(ctx: Any, info: Any, timeout: float) -> Any:
    """Wait for `info` to be deployed, showing its status and the time spent."""
    from pipeline import distributions
    from pipeline.infrastructure import wait_interval

    with _spinner(f"{info.kind} distribution {info.id}") as show_status:
        done = distributions.wait_deployed(
            ctx.cloudfront,
            info,
            timeout=timeout,
            interval=wait_interval(ctx),
            on_status=show_status,
        )
    typer.echo(f"{info.kind} distribution {info.id} is Deployed.")
    return done


def _set_enabled(
    dist_id: str, enabled: bool, config: Path | None, wait: bool, timeout: float
) -> None:
    from pipeline import distributions

    word = "enabled" if enabled else "disabled"
    with _cloudfront(config) as ctx:
        info = distributions.set_enabled(ctx.cloudfront, dist_id, enabled)
        if info.changes:
            typer.echo(f"{info.kind} distribution {dist_id} {word} ({info.status}).")
        else:
            typer.echo(f"{info.kind} distribution {dist_id} was already {word}.")
        if info.kind == "streaming" and enabled != ctx.settings.streaming.enabled:
            typer.echo(
                f"Note: mediapub.toml says streaming.enabled = "
                f"{str(ctx.settings.streaming.enabled).lower()}, so the next publish sets it "
                "back. Change streaming.enabled to keep it this way.",
                err=True,
            )
        if wait:
            _waiting(ctx, info, timeout)


@distributions_app.command()
def enable(
    dist_id: IdArgument,
    config: ConfigOption = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
) -> None:
    """Enable a distribution (one update, none when it already is)."""
    _set_enabled(dist_id, True, config, wait, timeout)


@distributions_app.command()
def disable(
    dist_id: IdArgument,
    config: ConfigOption = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
) -> None:
    """Disable a distribution (one update, none when it already is)."""
    _set_enabled(dist_id, False, config, wait, timeout)


@distributions_app.command()
def delete(
    dist_id: IdArgument,
    config: ConfigOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Also delete a distribution mediapub did not create.")
    ] = False,
    wait: WaitOption = False,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
) -> None:
    """Disable it if needed, wait until that is deployed, delete it with the current ETag.

    Without --wait, a distribution that still has to be disabled (or is deploying) is
    disabled and left for a later run; the exit status is then 6."""
    from pipeline import distributions
    from pipeline.infrastructure import wait_interval

    with _cloudfront(config) as ctx, _spinner(f"distribution {dist_id}") as show_status:
        info = distributions.delete(
            ctx.cloudfront,
            dist_id,
            force=force,
            timeout=timeout if wait else 0.0,
            interval=wait_interval(ctx),
            on_status=show_status,
        )
    typer.echo(f"{info.kind} distribution {dist_id} deleted.")


@contextmanager
def _spinner(what: str) -> Iterator[Any]:
    """A status line on stderr; yields the callback that updates it."""
    from rich.console import Console

    with Console(stderr=True).status(f"{what}: waiting") as status:

        def show_status(state: str, elapsed: float) -> None:
            status.update(f"{what}: {state}, {elapsed:.0f} s")

        yield show_status


def sign(
    item: Annotated[str, typer.Argument(help="Item key, source path or title.")],
    expires: Annotated[
        str, typer.Option("--expires", help='How long the URLs stay valid, like "1h" or "7d".')
    ] = "",
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print freshly signed RTMP and HTTP URLs of one item (private streaming)."""
    from pipeline import site
    from pipeline.cli import _settings
    from pipeline.errors import ConfigError
    from pipeline.signing import UrlSigner, duration
    from pipeline.state import open_store

    settings = _settings(config)
    if not settings.streaming.private:
        raise ConfigError(
            "streaming.private: signed URLs are for private streaming, and it is false. "
            "Fix: set streaming.private = true (with [signing]) and publish again."
        )
    if expires:
        duration(expires)
    signer = UrlSigner.from_settings(settings, expires=expires)
    store = open_store(settings.state_dir)
    try:
        found = site.find_item(store, item)
        info = site.SiteInfo.from_store(settings, store, None, signer=signer)
        view = site.item_view(info, found)
    finally:
        store.close()
    urls = {
        "key": view["key"],
        "expires_at": view["expires_at"],
        "rtmp_url": view["rtmp_url"],
        "rtmp_stream": view["rtmp_stream"],
        "rtmp_stream_escaped": view["rtmp_stream_escaped"],
        "http_url": view["http_url"],
        "play_url": view["play_url"],
    }
    if as_json:
        _echo_json(urls)
        return
    for key, value in urls.items():
        if value:
            typer.echo(f"{key:20} {value}")
