"""The settings schema: `mediapub.toml`, `MEDIAPUB_*` environment variables and flags, validated.

Every value passes through one schema. An error names the key, the expected shape, the value
received and the fix; unknown keys produce warnings, never silent acceptance. Validation happens
here, before anything talks to the network.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

CONFIG_NAME = "mediapub.toml"
ENV_PREFIX = "MEDIAPUB_"
PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
MAX_CNAMES = 10
MAX_COMMENT = 128


@dataclass(frozen=True)
class LoggingSettings:
    enabled: bool = False
    bucket: str = ""
    prefix: str = ""


@dataclass(frozen=True)
class StreamingSettings:
    bucket: str = "mediapub-media"
    prefix: str = "media/"
    enabled: bool = True
    comment: str = "mediapub streaming distribution"
    price_class: str = "PriceClass_All"
    cnames: tuple[str, ...] = ()
    logging: LoggingSettings = LoggingSettings()
    public_access: str = "auto"
    manage_public_access_block: bool = False
    private: bool = False


@dataclass(frozen=True)
class SigningSettings:
    key_pair_id: str = ""
    private_key_file: str = ""
    expires: str = "24h"
    ip_range: str = ""  # a custom policy allowing only this CIDR range
    start: str = ""  # a custom policy valid only from this ISO 8601 time


@dataclass(frozen=True)
class PlayerSettings:
    bucket: str = "mediapub-player"
    path: str = ""
    https: bool = True


@dataclass(frozen=True)
class CrossdomainSettings:
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class SiteSettings:
    title: str = "Media"
    upload: bool = True
    templates: str = ""


@dataclass(frozen=True)
class HlsSettings:
    enabled: bool = False


@dataclass(frozen=True)
class WatchSettings:
    folder: str = "dropbox"
    patterns: tuple[str, ...] = ("*.mp4", "*.m4v", "*.mov", "*.f4v", "*.flv", "*.mp3")
    ignore: tuple[str, ...] = ("*.part", "*.crdownload", "*.tmp", ".*", "~*")
    stable_seconds: float = 2.0
    rescan_seconds: float = 60.0
    polling: str = "auto"
    max_attempts: int = 5
    after: str = "keep"
    archive_dir: str = ""


@dataclass(frozen=True)
class Settings:
    """Validated settings. Paths are absolute, resolved against the config file's folder."""

    target: str = "local"
    region: str = "us-east-1"
    endpoint_url: str = ""
    site_dir: Path = Path("site")
    state_dir: Path = Path(".mediapub")
    delivery: tuple[str, ...] = ("rtmp", "http")
    streaming: StreamingSettings = StreamingSettings()
    signing: SigningSettings = SigningSettings()
    player: PlayerSettings = PlayerSettings()
    crossdomain: CrossdomainSettings = CrossdomainSettings()
    site: SiteSettings = SiteSettings()
    hls: HlsSettings = HlsSettings()
    watch: WatchSettings = WatchSettings()
    config_path: Path | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def rtmp(self) -> bool:
        """True when a streaming (RTMP) distribution is wanted."""
        return "rtmp" in self.delivery


# --- value checkers: each returns the converted value or raises _Invalid(expected, fix) ---


class _Invalid(Exception):
    def __init__(self, expected: str, fix: str = "") -> None:
        super().__init__(expected)
        self.expected = expected
        self.fix = fix


Checker = Callable[[Any], Any]


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("a string")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("true or false")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _Invalid("a number of seconds, 0 or more")
    return float(value)


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Invalid("a whole number, 1 or more")
    return value


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid('a list of strings, like ["a", "b"]')
    return tuple(value)


def _choice(*choices: str) -> Checker:
    def check(value: Any) -> str:
        if value not in choices:
            raise _Invalid("one of " + ", ".join(f'"{c}"' for c in choices))
        return str(value)

    return check


_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_HOST_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def bucket_name_problem(name: str) -> str | None:
    """Why `name` is not a bucket name usable for S3 and DNS (virtual-host style), or None."""
    if not 3 <= len(name) <= 63:
        return "must be 3 to 63 characters long"
    if "." in name:
        return "must not contain dots (CloudFront origins and HTTPS need DNS-safe bucket names)"
    if not _BUCKET_RE.match(name):
        return "may use only lowercase letters, digits and hyphens, starting and ending with one"
    if _IP_RE.match(name) or name.startswith("xn--") or name.endswith("-s3alias"):
        return "must not look like an IP address or use a reserved prefix or suffix"
    return None


def _bucket(value: Any) -> str:
    name = _string(value)
    problem = bucket_name_problem(name)
    if problem:
        raise _Invalid(f"a bucket name valid for S3 and DNS; it {problem}")
    return name


def is_hostname(name: str) -> bool:
    """True for a DNS host name such as `media.example.com` (one leading `*.` allowed)."""
    host = name[2:] if name.startswith("*.") else name
    labels = host.split(".")
    return len(host) <= 253 and len(labels) >= 2 and all(_HOST_LABEL_RE.match(p) for p in labels)


def _cnames(value: Any) -> tuple[str, ...]:
    names = _strings(value)
    if len(names) > MAX_CNAMES:
        raise _Invalid(
            f"at most {MAX_CNAMES} aliases",
            f"remove {len(names) - MAX_CNAMES} of them",
        )
    for name in names:
        if not is_hostname(name):
            raise _Invalid(f'host names like "media.example.com"; "{name}" is not one')
    return names


def _comment(value: Any) -> str:
    text = _string(value)
    if len(text) > MAX_COMMENT:
        raise _Invalid(f"at most {MAX_COMMENT} characters, got {len(text)}", "shorten it")
    return text


def _prefix(value: Any) -> str:
    text = _string(value).strip("/")
    if any(part in ("", ".", "..") for part in text.split("/")) and text:
        raise _Invalid('a key prefix like "media/" without empty, "." or ".." parts')
    if any(ord(c) < 32 for c in text) or "\\" in text:
        raise _Invalid("a key prefix without control characters or backslashes")
    return text + "/" if text else ""


def _endpoint(value: Any) -> str:
    text = _string(value)
    if text and not re.match(r"^https?://[^/\s]+/?$", text):
        raise _Invalid('an http(s) URL with no path, like "http://127.0.0.1:5000"')
    return text.rstrip("/")


def _delivery(value: Any) -> tuple[str, ...]:
    modes = _strings(value)
    if not modes or any(m not in ("rtmp", "http") for m in modes) or "http" not in modes:
        raise _Invalid(
            '["rtmp", "http"] or ["http"]',
            'HTTP delivery is always on; use ["http"] for no streaming distribution',
        )
    return tuple(dict.fromkeys(modes))


def _crossdomain_allow(value: Any) -> tuple[str, ...]:
    names = _strings(value)
    for name in names:
        if name != "*" and not (is_hostname(name) or _IP_RE.match(name)):
            raise _Invalid(f'"*", host names, "*.example.com" or IP addresses; got "{name}"')
    return names


def _patterns(value: Any) -> tuple[str, ...]:
    return _strings(value)


def _polling(value: Any) -> str:
    if value in (True, False):
        return "true" if value else "false"
    if value == "auto":
        return "auto"
    raise _Invalid('true, false or "auto"')


def _cidr(value: Any) -> str:
    import ipaddress

    text = _string(value)
    if text:
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise _Invalid('an IP range like "192.0.2.0/24" (or one address)') from None
    return text


def _timestamp(value: Any) -> str:
    from datetime import datetime

    text = value.isoformat() if hasattr(value, "isoformat") else _string(value)
    if text:
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise _Invalid('an ISO 8601 time like "2026-12-01T09:00:00Z"') from None
    return text


def _duration(value: Any) -> str:
    text = _string(value)
    if not re.fullmatch(r"\d+[smhd]", text):
        raise _Invalid('a duration like "90s", "30m", "24h" or "7d"')
    return text


# Schema: section -> key -> checker. The top-level section is "".
_SCHEMA: dict[str, dict[str, Checker]] = {
    "": {
        "target": _choice("local", "aws"),
        "region": _string,
        "endpoint_url": _endpoint,
        "site_dir": _string,
        "state_dir": _string,
        "delivery": _delivery,
    },
    "streaming": {
        "bucket": _bucket,
        "prefix": _prefix,
        "enabled": _boolean,
        "comment": _comment,
        "price_class": _choice(*PRICE_CLASSES),
        "cnames": _cnames,
        "public_access": _choice("auto", "acl", "policy"),
        "manage_public_access_block": _boolean,
        "private": _boolean,
    },
    "streaming.logging": {"enabled": _boolean, "bucket": _string, "prefix": _string},
    "signing": {
        "key_pair_id": _string,
        "private_key_file": _string,
        "expires": _duration,
        "ip_range": _cidr,
        "start": _timestamp,
    },
    "player": {"bucket": _bucket, "path": _string, "https": _boolean},
    "crossdomain": {"allow": _crossdomain_allow},
    "site": {"title": _string, "upload": _boolean, "templates": _string},
    "hls": {"enabled": _boolean},
    "watch": {
        "folder": _string,
        "patterns": _patterns,
        "ignore": _patterns,
        "stable_seconds": _number,
        "rescan_seconds": _number,
        "polling": _polling,
        "max_attempts": _positive_int,
        "after": _choice("keep", "archive", "delete"),
        "archive_dir": _string,
    },
}
_SECTIONS = {"streaming", "signing", "player", "crossdomain", "site", "hls", "watch"}


def _render(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and len(value) > 4:
        return f"a list of {len(value)} names"
    return repr(value)


def _key_name(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def _flatten(data: Mapping[str, Any], warnings: list[str], origin: str) -> dict[str, Any]:
    """Turn nested TOML tables into {"section.key": value}, warning about unknown keys."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{key}: expected a table ([{key}]), got {_render(value)}.")
            for sub, subvalue in value.items():
                if key == "streaming" and sub == "logging":
                    if not isinstance(subvalue, dict):
                        raise ConfigError(
                            "streaming.logging: expected a table like "
                            "{ enabled = true, bucket = ..., prefix = ... }, "
                            f"got {_render(subvalue)}."
                        )
                    for lk, lv in subvalue.items():
                        _add(flat, "streaming.logging", lk, lv, warnings, origin)
                else:
                    _add(flat, key, sub, subvalue, warnings, origin)
        else:
            _add(flat, "", key, value, warnings, origin)
    return flat


def _add(
    flat: dict[str, Any], section: str, key: str, value: Any, warnings: list[str], origin: str
) -> None:
    name = _key_name(section, key)
    if key not in _SCHEMA.get(section, {}):
        known = ", ".join(_key_name(section, k) for k in _SCHEMA.get(section, {}))
        warnings.append(f"{origin}: unknown key {name} ignored (known keys here: {known}).")
        return
    flat[name] = value


def _env_overrides(env: Mapping[str, str], warnings: list[str]) -> dict[str, Any]:
    """`MEDIAPUB_STREAMING_PRICE_CLASS=PriceClass_100` -> {"streaming.price_class": ...}.

    Values are read as TOML values when they parse (`true`, `["a"]`, `2.5`) and as plain
    strings otherwise, so `MEDIAPUB_REGION=eu-west-1` needs no quotes.
    """
    names = {
        (ENV_PREFIX + name.replace(".", "_")).upper(): name
        for section, keys in _SCHEMA.items()
        for name in (_key_name(section, k) for k in keys)
    }
    overrides: dict[str, Any] = {}
    for var, raw in env.items():
        if not var.startswith(ENV_PREFIX) or var in ("MEDIAPUB_CONFIG", "MEDIAPUB_DEBUG"):
            continue
        if var not in names:
            warnings.append(f"environment: unknown variable {var} ignored.")
            continue
        try:
            overrides[names[var]] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            overrides[names[var]] = raw
    return overrides


def _check(name: str, value: Any, origin: str) -> Any:
    section, _, key = name.rpartition(".")
    try:
        return _SCHEMA[section][key](value)
    except _Invalid as bad:
        fix = f" Fix: {bad.fix}." if bad.fix else ""
        raise ConfigError(
            f"{name} ({origin}): expected {bad.expected}; got {_render(value)}.{fix}"
        ) from None


def find_config(explicit: Path | None, cwd: Path) -> Path | None:
    """The config file to read: `--config`, else `mediapub.toml` in the working directory."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(
                f"--config {explicit}: no such file. Check the path, or drop --config to use "
                f"./{CONFIG_NAME} or the defaults."
            )
        return explicit
    candidate = cwd / CONFIG_NAME
    return candidate if candidate.is_file() else None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid TOML ({exc}). Fix the syntax and run again."
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}).") from None


def load_settings(
    config: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read, merge (file < environment < flags) and validate settings.

    `overrides` use dotted names (`{"watch.folder": "in"}`) and come from command-line flags
    that were actually given.
    """
    cwd = (cwd or Path.cwd()).resolve()
    warnings: list[str] = []
    path = find_config(config, cwd)
    values: dict[str, tuple[Any, str]] = {}
    if path is not None:
        for name, value in _flatten(read_toml(path), warnings, str(path.name)).items():
            values[name] = (value, path.name)
    for name, value in _env_overrides(env or {}, warnings).items():
        values[name] = (value, "environment " + ENV_PREFIX + name.replace(".", "_").upper())
    for name, value in (overrides or {}).items():
        values[name] = (value, "command line")
    checked = {name: _check(name, value, origin) for name, (value, origin) in values.items()}
    base = path.parent.resolve() if path else cwd
    return _build(checked, base, path, tuple(warnings))


def _section(cls: type[Any], checked: Mapping[str, Any], prefix: str) -> Any:
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs = {
        name[len(prefix) + 1 :]: value
        for name, value in checked.items()
        if name.startswith(prefix + ".") and name[len(prefix) + 1 :] in fields
    }
    return cls(**kwargs)


def _build(
    checked: Mapping[str, Any], base: Path, path: Path | None, warnings: tuple[str, ...]
) -> Settings:
    logging = _section(LoggingSettings, checked, "streaming.logging")
    streaming = dataclasses.replace(
        _section(StreamingSettings, checked, "streaming"), logging=logging
    )
    top = {k: v for k, v in checked.items() if "." not in k}
    settings = Settings(
        **{k: v for k, v in top.items() if k not in ("site_dir", "state_dir")},
        site_dir=(base / top.get("site_dir", "site")).resolve(),
        state_dir=(base / top.get("state_dir", ".mediapub")).resolve(),
        streaming=streaming,
        signing=_resolve_signing(_section(SigningSettings, checked, "signing"), base),
        player=_resolve_player(_section(PlayerSettings, checked, "player"), base),
        crossdomain=_section(CrossdomainSettings, checked, "crossdomain"),
        site=_resolve_site(_section(SiteSettings, checked, "site"), base),
        hls=_section(HlsSettings, checked, "hls"),
        watch=_resolve_watch(_section(WatchSettings, checked, "watch"), base),
        config_path=path,
        warnings=warnings,
    )
    _cross_check(settings)
    return settings


def _resolve_watch(watch: WatchSettings, base: Path) -> WatchSettings:
    """The drop folder and archive folder, absolute (relative ones start at the config's folder;
    a relative archive_dir starts at the drop folder)."""
    folder = (base / Path(watch.folder).expanduser()).resolve()
    archive = (folder / Path(watch.archive_dir).expanduser()).resolve() if watch.archive_dir else ""
    return dataclasses.replace(watch, folder=str(folder), archive_dir=str(archive))


def _resolve_site(site: SiteSettings, base: Path) -> SiteSettings:
    if not site.templates:
        return site
    path = (base / Path(site.templates).expanduser()).resolve()
    if not path.is_dir():
        raise ConfigError(
            f'site.templates: expected a folder of template overrides; got "{site.templates}", '
            "which is not a folder. Fix the path, or remove site.templates to use the bundled "
            "templates."
        )
    return dataclasses.replace(site, templates=str(path))


def _resolve_signing(signing: SigningSettings, base: Path) -> SigningSettings:
    if not signing.private_key_file:
        return signing
    path = (base / Path(signing.private_key_file).expanduser()).resolve()
    return dataclasses.replace(signing, private_key_file=str(path))


def _resolve_player(player: PlayerSettings, base: Path) -> PlayerSettings:
    if not player.path:
        return player
    path = (base / Path(player.path).expanduser()).resolve()
    if not path.exists():
        raise ConfigError(
            f'player.path: expected a file or folder with the media player; got "{player.path}", '
            "which does not exist. Fix the path, or remove player.path to use the built-in "
            "player."
        )
    return dataclasses.replace(player, path=str(path))


def _cross_check(settings: Settings) -> None:
    """Rules that involve more than one key."""
    log = settings.streaming.logging
    if log.enabled and not log.bucket:
        raise ConfigError(
            "streaming.logging.bucket: expected a bucket for the access logs when "
            "streaming.logging.enabled = true; got nothing. Fix: set "
            'bucket = "my-logs.s3.amazonaws.com", or enabled = false.'
        )
    if log.bucket and not re.fullmatch(
        r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\.s3\.amazonaws\.com", log.bucket
    ):
        raise ConfigError(
            f'streaming.logging.bucket: expected the form "name.s3.amazonaws.com"; got '
            f'"{log.bucket}". Fix: write the bucket as '
            f'"{log.bucket.split(".")[0]}.s3.amazonaws.com".'
        )
    if settings.streaming.private and not (
        settings.signing.key_pair_id and settings.signing.private_key_file
    ):
        raise ConfigError(
            "streaming.private: true needs signing.key_pair_id and signing.private_key_file; "
            "got none. Fix: set both in [signing], or set streaming.private = false."
        )
    if settings.streaming.private:
        from pipeline.signing import load_private_key

        load_private_key(settings.signing.private_key_file)
    if settings.target == "local" and settings.endpoint_url:
        raise ConfigError(
            "endpoint_url: the local target starts its own endpoint; got "
            f'"{settings.endpoint_url}". '
            'Fix: set target = "aws" to use that endpoint, or remove endpoint_url.'
        )
