"""The `mediapub` command: parse, build the context, call one core function, render the result.

This is the only module that prints, and `main()` is the only place where exceptions become
exit statuses.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline import __version__
from pipeline.cli_distributions import distributions_app, sign
from pipeline.errors import ExitStatus, InputError, PipelineError

app = typer.Typer(
    name="mediapub",
    help="Publish media to S3 and CloudFront (RTMP and HTTP) and render a player site.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: ./mediapub.toml, else defaults)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a machine-readable result.")]

_state = {"debug": False}


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mediapub {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    """mediapub: publish media files and render RTMP and HTTP URLs into a player site."""
    import logging

    _state["debug"] = debug or bool(os.environ.get("MEDIAPUB_DEBUG"))
    level = logging.DEBUG if _state["debug"] else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "botocore", "urllib3", "boto3", "s3transfer"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _settings(config: Path | None) -> Any:
    from pipeline.config import load_settings

    settings = load_settings(config, env=os.environ)
    for warning in settings.warnings:
        _err(f"Warning: {warning}")
    return settings


@contextmanager
def _context(settings: Any, *, aws: bool, progress: Any = None) -> Iterator[Any]:
    """A context on the configured target; the local stack runs while the block runs."""
    from pipeline.context import build_context

    stack = None
    if aws and settings.target == "local":
        from pipeline.local.stack import LocalStack

        stack = LocalStack().start()
        for warning in stack.warnings():
            _err(f"Warning: {warning}")
    try:
        ctx = build_context(settings, progress=progress, local=stack)
        try:
            yield ctx
        finally:
            ctx.close()
    finally:
        if stack is not None:
            stack.stop()


@app.command()
def publish(
    paths: Annotated[list[Path], typer.Argument(help="Media files and folders to publish.")],
    config: ConfigOption = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="Keep the local stack up after publishing (Ctrl-C).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    as_json: JsonOption = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until the distributions are deployed.")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Afterwards, check that every rendered URL plays.")
    ] = False,
) -> None:
    """Publish files and folders once: upload, ensure distributions, render the site."""
    from pipeline import cli_report as output
    from pipeline import publisher, verify

    settings = _settings(config)
    if serve and settings.target != "local":
        raise InputError('--serve keeps the embedded local stack up; it needs target = "local".')
    publisher.check_paths(paths)
    progress = output.RichProgress(quiet=as_json)
    with _context(settings, aws=not dry_run, progress=progress) as ctx:
        result = publisher.plan(ctx, paths) if dry_run else publisher.publish(ctx, paths, wait=wait)
        progress.close()
        checks = verify.check_manifest(result.manifest) if check and not dry_run else None
        output.publish_result(result, as_json=as_json, checks=checks)
        if serve:
            output.serving(result.manifest)
            _wait_for_interrupt()
    if result.failed or result.rtmp_refusal or (checks and not all(c.ok for c in checks)):
        raise typer.Exit(ExitStatus.PARTIAL)


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM; the caller's `with` blocks then stop what they run."""
    import signal

    def terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        _err("Stopped serving.")


@app.command()
def watch(
    folder: Annotated[
        Path | None, typer.Argument(help="The drop folder (default: watch.folder).")
    ] = None,
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="Process what is there, then exit.")] = False,
) -> None:
    """Watch a drop folder and publish every complete media file exactly once."""
    from pipeline.watcher import WatchService

    settings = _settings(config)
    _log_state_changes()
    with _context(settings, aws=True) as ctx:
        service = WatchService(ctx, folder or Path(settings.watch.folder), once=once)
        interrupted = _stop_on_signals(service.stop)
        summary = service.run()
    _err(
        f"Published {summary.published}, unchanged {summary.unchanged}, "
        f"failed {len(summary.failed)}."
    )
    if interrupted.is_set():
        raise typer.Exit(ExitStatus.INTERRUPTED)
    if summary.failed:
        raise typer.Exit(ExitStatus.PARTIAL)


def _log_state_changes() -> None:
    """The watcher's one line per item state change, with a timestamp, on stderr."""
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    watcher_log = logging.getLogger("pipeline.watcher")
    watcher_log.addHandler(handler)
    watcher_log.setLevel(logging.INFO)
    watcher_log.propagate = False


def _stop_on_signals(stop: Callable[[], None]) -> threading.Event:
    """SIGTERM and SIGINT call `stop`; the returned event tells whether it was SIGINT."""
    import signal

    interrupted = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        if signum == signal.SIGINT:
            interrupted.set()
        _err("Stopping: finishing uploads in progress.")
        stop()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return interrupted


@app.command()
def retry(
    item: Annotated[
        str | None, typer.Argument(help="Item key or source path (default: every failed item).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Make failed items eligible again; the watcher retries them on its next rescan."""
    from pipeline.context import Context, NullProgress
    from pipeline.state import open_store
    from pipeline.watcher import retry_failed

    settings = _settings(config)
    store = open_store(settings.state_dir)
    try:
        ctx = Context(settings, None, None, store, endpoint_url=None, progress=NullProgress())
        keys = retry_failed(ctx, item)
    finally:
        store.close()
    if item and not keys:
        raise InputError(f"{item}: no failed item has this key or source path.")
    for key in keys:
        typer.echo(f"will retry {key}")
    typer.echo(f"{len(keys)} item(s) will be retried by `mediapub watch`.")


@app.command()
def local(
    port: Annotated[
        int | None, typer.Option("--port", help="API port (default: a free one).")
    ] = None,
    deploy_seconds: Annotated[
        float,
        typer.Option(
            "--deploy-seconds",
            min=0,
            help="How long created and changed distributions stay InProgress (as on AWS).",
        ),
    ] = 0.0,
    trust_keys: Annotated[
        list[str] | None,
        typer.Option(
            "--trust-key",
            help="KEY_PAIR_ID=PEM: the edges accept URLs signed with this key (private "
            "streaming); the PEM may hold the private or the public key. Repeatable.",
        ),
    ] = None,
) -> None:
    """Run the embedded local stack until Ctrl-C, for other commands and tests to use."""
    from pipeline.local.stack import LocalStack
    from pipeline.signing import load_public_key

    keys = []
    for spec in trust_keys or []:
        key_pair_id, sep, path = spec.partition("=")
        if not sep or not key_pair_id or not path:
            raise InputError(
                f"--trust-key {spec}: expected KEY_PAIR_ID=PEM_FILE, like "
                "APKAEXAMPLE=pk-APKAEXAMPLE.pem."
            )
        keys.append((key_pair_id, load_public_key(path)))
    with LocalStack(port=port, deploy_seconds=deploy_seconds) as stack:
        for key_pair_id, public_key in keys:
            stack.trust_signing_key(key_pair_id, public_key)
        for warning in stack.warnings():
            _err(f"Warning: {warning}")
        typer.echo(f"Local stack (S3 + CloudFront) at {stack.endpoint_url}")
        typer.echo("Use it from another mediapub with these mediapub.toml lines:\n")
        typer.echo(stack.config_lines())
        typer.echo("and credentials in the environment (any will do):\n")
        typer.echo(stack.credential_lines())
        typer.echo("Press Ctrl-C to stop.", err=True)
        sys.stdout.flush()
        _wait_for_interrupt()


@app.command()
def status(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show every item with its state, URLs, attempts and last error, and the infrastructure."""
    from pipeline import cli_report as output
    from pipeline.state import open_store

    settings = _settings(config)
    store = open_store(settings.state_dir)
    try:
        output.status(store.items(), store.infra(), as_json=as_json)
    finally:
        store.close()


@app.command()
def render(config: ConfigOption = None) -> None:
    """Re-render the site from the state store without touching AWS."""
    from pipeline import publisher
    from pipeline.context import Context, NullProgress
    from pipeline.state import open_store

    settings = _settings(config)
    store = open_store(settings.state_dir)
    try:
        ctx = Context(settings, None, None, store, endpoint_url=None, progress=NullProgress())
        manifest = publisher.render(ctx)
    finally:
        store.close()
    typer.echo(f"Rendered {len(manifest['items'])} items into {settings.site_dir}")


@app.command()
def snippet(
    item: Annotated[str, typer.Argument(help="Item key, source path or title.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="iframe | html | jwplayer | json | oembed")
    ] = "iframe",
    config: ConfigOption = None,
) -> None:
    """Print an embed snippet for one published item."""
    from pipeline import site
    from pipeline.state import open_store

    if fmt not in site.SNIPPET_FORMATS:
        raise InputError(f"--format {fmt}: expected one of {', '.join(site.SNIPPET_FORMATS)}.")
    settings = _settings(config)
    store = open_store(settings.state_dir)
    try:
        typer.echo(site.snippet_for(settings, store, item, fmt))
    finally:
        store.close()


app.add_typer(distributions_app, name="distributions")
app.command()(sign)


@app.command("edge-config")
def edge_config(
    origin: Annotated[
        str | None,
        typer.Option("--origin", help="HTTP(S) base URL of the bucket (default: from the config)."),
    ] = None,
    port: Annotated[int, typer.Option("--port", help="RTMP port to listen on.")] = 1935,
    mp3_origin: Annotated[
        str | None,
        typer.Option("--mp3-origin", help="HTTP location that remuxes mp3: streams to FLV."),
    ] = None,
    prefix: Annotated[
        Path | None,
        typer.Option("--prefix", help="Folder for pid, logs and temp files (default: nginx's)."),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="User of nginx's workers when run as root.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Print an nginx.conf that serves the streaming bucket over RTMP as CloudFront did."""
    from pipeline import edgeconfig

    settings = _settings(config)
    text = edgeconfig.render_config(
        settings, origin=origin, port=port, mp3_origin=mp3_origin, prefix=prefix, user=user
    )
    typer.echo(text, nl=False)


def main() -> int:
    """Entry point: run the app and turn every outcome into an exit status."""
    if len(sys.argv) < 2 or "--help" in sys.argv[1:]:
        _load_help_formatter()
    try:
        code = app(prog_name="mediapub", standalone_mode=False)
    except PipelineError as exc:
        _err(f"Error: {exc}")
        if _state["debug"]:
            raise
        return int(exc.exit_status)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        _err("Interrupted.")
        return int(ExitStatus.INTERRUPTED)
    except _click_exception() as exc:
        exc.show()
        return int(ExitStatus.USAGE)
    except KeyboardInterrupt:
        _err("Interrupted.")
        return int(ExitStatus.INTERRUPTED)
    return code if isinstance(code, int) else int(ExitStatus.OK)


def _click_exception() -> Any:
    """The base of typer's usage errors, from typer's own copy of click or from click itself."""
    try:
        from typer._click import exceptions
    except ImportError:  # older typer versions use click directly
        from click import exceptions  # type: ignore[no-redef]
    return exceptions.ClickException


def _load_help_formatter() -> None:
    """Import typer's rich help formatter without rich's Markdown and Traceback modules.

    `typer.rich_utils` imports `rich.markdown` (markdown-it) and `rich.traceback` (pygments) at
    the top, which is half the time of `mediapub --help`, yet needs them only for Markdown help
    text and pretty tracebacks, both off here. While it is imported, stand-ins that load the
    real class on first use take those modules' places; the real modules stay importable.
    """
    if "typer.rich_utils" in sys.modules:
        return
    deferred = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}
    if any(name in sys.modules for name in deferred):
        return
    for module_name, class_name in deferred.items():
        stand_in = types.ModuleType(module_name)
        setattr(stand_in, class_name, _deferred_class(module_name, class_name))
        sys.modules[module_name] = stand_in
    try:
        import typer.rich_utils  # noqa: F401
    finally:
        for module_name in deferred:
            del sys.modules[module_name]


class _Deferred(type):
    """A stand-in class: calling it or reading its attributes loads the real class."""

    module_name: str

    def real(cls) -> Any:
        import importlib

        return getattr(importlib.import_module(cls.module_name), cls.__name__)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls.real()(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls.real(), name)


def _deferred_class(module_name: str, class_name: str) -> type:
    return _Deferred(class_name, (), {"module_name": module_name})


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
