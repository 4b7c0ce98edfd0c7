"""How command results look on the terminal: progress bars, tables, JSON. Part of the CLI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import typer

from pipeline.publisher import FAILED_ACTION, PublishResult
from pipeline.state import InfraRecord, Item
from pipeline.verify import Check


class RichProgress:
    """`Progress` drawn with rich on stderr: step lines and one byte-counting upload bar."""

    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.console = Console(stderr=True)
        self._bar: Any = None
        self._task: Any = None

    def step(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"[dim]-[/dim] {message}", highlight=False, markup=True)

    def start(self, name: str, total: int) -> None:
        if self.quiet:
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TransferSpeedColumn,
        )

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=self.console,
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(name, total=total)

    def advance(self, name: str, amount: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, amount)

    def finish(self, name: str, ok: bool) -> None:
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def publish_result(result: PublishResult, *, as_json: bool, checks: list[Check] | None) -> None:
    if as_json:
        data = result.to_json()
        if checks is not None:
            data["checks"] = [c.__dict__ for c in checks]
        _echo_json(data)
        return
    for note in result.notes:
        typer.echo(f"Note: {note}", err=True)
    for action in result.actions:
        typer.echo(f"  {action}")
    for outcome in result.outcomes:
        line = f"{outcome.action:>12}  {outcome.source}"
        if outcome.action == FAILED_ACTION:
            typer.echo(f"{line}\n              {outcome.error}", err=True)
        else:
            typer.echo(line)
    if result.rtmp_refusal:
        typer.echo(f"Warning: {result.rtmp_refusal}", err=True)
    if checks is not None:
        for check in checks:
            mark = "ok  " if check.ok else "FAIL"
            typer.echo(f"{mark}  {check.kind:<5} {check.url}  ({check.detail})")
    manifest = result.manifest
    if manifest.get("index_url"):
        typer.echo(f"\nSite: {manifest['index_url']}")
    if result.failed:
        names = ", ".join(o.source for o in result.failed)
        typer.echo(f"Error: {len(result.failed)} item(s) failed: {names}", err=True)


def serving(manifest: dict[str, Any]) -> None:
    typer.echo("\nServing on the local stack until Ctrl-C:")
    typer.echo(f"  index: {manifest.get('index_url', '')}")
    for item in manifest.get("items", []):
        if item.get("rtmp_url"):
            typer.echo(f"  rtmp:  {item['rtmp_url']}")


def status(items: Sequence[Item], infra: Sequence[InfraRecord], *, as_json: bool) -> None:
    if as_json:
        _echo_json(
            {
                "items": [
                    {k: v for k, v in item.__dict__.items() if k != "source_path"} for item in items
                ],
                "infrastructure": [record.__dict__ for record in infra],
            }
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Items")
    for column in ("state", "source", "attempts", "RTMP URL", "HTTP URL", "last error"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(
            item.state, item.source, str(item.attempts), item.rtmp_url, item.http_url, item.error
        )
    records = Table(title="Infrastructure")
    for column in ("name", "id", "domain", "status"):
        records.add_column(column, overflow="fold")
    for record in infra:
        records.add_row(record.name, record.resource_id, record.domain, record.status)
    console = Console(highlight=False)
    console.print(table)
    console.print(records)
