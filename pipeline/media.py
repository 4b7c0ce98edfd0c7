"""What a publishable media file is: supported types, safe object keys and RTMP stream names."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from pipeline.errors import ConfigError, InputError, MediaError

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 15.0
"""Seconds ffprobe may take on one file before it is given up on."""

MAX_KEY_BYTES = 1024
"""S3 rejects object keys longer than this many bytes of UTF-8."""


class MediaType(NamedTuple):
    """How one file extension is published."""

    kind: str
    """"video" or "audio"."""
    content_type: str
    """The Content-Type stored on the S3 object."""
    rtmp_flavour: str
    """How CloudFront RTMP names the stream: "flv" (bare name), "mp4" or "mp3" (prefixed)."""


MEDIA_TYPES: dict[str, MediaType] = {
    ".mp4": MediaType("video", "video/mp4", "mp4"),
    ".m4v": MediaType("video", "video/mp4", "mp4"),
    ".mov": MediaType("video", "video/quicktime", "mp4"),
    ".f4v": MediaType("video", "video/mp4", "mp4"),
    ".flv": MediaType("video", "video/x-flv", "flv"),
    ".mp3": MediaType("audio", "audio/mpeg", "mp3"),
}

SUPPORTED = ", ".join(MEDIA_TYPES)
"""The supported extensions, for messages: ".mp4, .m4v, ..."."""


@dataclass(frozen=True)
class MediaFile:
    """One media file found on disk, ready to publish."""

    path: Path
    relpath: str
    """POSIX path relative to the folder the file was found in; becomes the key after the prefix."""
    size: int
    kind: str
    content_type: str
    extension: str
    """Lower-case, with the dot: ".mp4"."""

    @property
    def rtmp_flavour(self) -> str:
        """ "flv", "mp4" or "mp3": see `stream_name`."""
        return MEDIA_TYPES[self.extension].rtmp_flavour


def extension_of(path: str | os.PathLike[str]) -> str:
    """The lower-case extension of `path` with its dot ("" when there is none)."""
    return Path(path).suffix.lower()


def is_media(path: str | os.PathLike[str]) -> bool:
    """True when the name of `path` has a supported media extension (the file is not read)."""
    return extension_of(path) in MEDIA_TYPES


def media_info(path: Path, root: Path) -> MediaFile:
    """Describe the media file `path`, found in the folder `root`.

    Raises MediaError (code "unsupported", "empty", "missing" or "unreadable") when the file
    cannot be published, and InputError when its name cannot become an object key.
    """
    extension = extension_of(path)
    media_type = MEDIA_TYPES.get(extension)
    if media_type is None:
        raise MediaError(
            f"{path}: not a supported media file (supported: {SUPPORTED}).", "unsupported"
        )
    relpath = safe_relpath(path, root)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise MediaError(
            f"{path}: the file vanished before it could be published. "
            "Check it was not moved or deleted.",
            "missing",
        ) from None
    except OSError as exc:
        raise MediaError(f"{path}: cannot read the file ({_reason(exc)}).", "unreadable") from None
    if not stat.S_ISREG(st.st_mode):
        raise MediaError(f"{path}: not a regular file; only files can be published.", "unsupported")
    if st.st_size == 0:
        raise MediaError(
            f"{path} is empty (0 bytes); nothing to publish. Check the file finished copying.",
            "empty",
        )
    _check_readable(path)
    return MediaFile(
        path=path,
        relpath=relpath,
        size=st.st_size,
        kind=media_type.kind,
        content_type=media_type.content_type,
        extension=extension,
    )


def _check_readable(path: Path) -> None:
    """Open `path` for reading (and close it again), turning failures into MediaError."""
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise MediaError(
            f"{path}: the file vanished before it could be published. "
            "Check it was not moved or deleted.",
            "missing",
        ) from None
    except OSError as exc:
        raise MediaError(
            f"{path}: cannot read the file ({_reason(exc)}). Check its permissions.",
            "unreadable",
        ) from None


def _reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The hex SHA-256 of the file at `path`, read `chunk` bytes at a time."""
    if chunk <= 0:
        raise ValueError("chunk must be a positive number of bytes")
    digest = hashlib.sha256()
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    try:
        with path.open("rb") as stream:
            while True:
                count = stream.readinto(view)
                if not count:
                    break
                digest.update(view[:count])
    except FileNotFoundError:
        raise MediaError(f"{path}: the file vanished while it was being read.", "missing") from None
    except OSError as exc:
        raise MediaError(f"{path}: cannot read the file ({_reason(exc)}).", "unreadable") from None
    return digest.hexdigest()


def _check_component(name: str, shown: str, error: type[InputError] | type[ConfigError]) -> None:
    """Reject one path component that must not appear in an object key."""
    if name in ("", ".", ".."):
        what = "an empty part" if not name else f'a "{name}" part'
        raise error(f"{shown}: the path has {what}; give a plain path inside the folder.")
    bad = next((c for c in name if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        raise error(
            f"{shown!r}: the name contains the control character U+{ord(bad):04X}; "
            "rename the file without it."
        )
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise error(
            f"{shown!r}: the name is not valid UTF-8, so it cannot become an object key; "
            "rename the file."
        ) from None


def safe_relpath(path: Path, root: Path) -> str:
    """The POSIX path of `path` relative to the folder `root`.

    Only "/" separates components; any other character (a backslash included) is part of a
    name. Raises InputError when `path` is not inside `root` (by its name, or because a symbolic
    link takes it elsewhere), or when a component is ".", ".." or holds a control character.
    """
    abs_path = path.absolute()
    abs_root = root.absolute()
    try:
        rel = abs_path.relative_to(abs_root)
    except ValueError:
        raise InputError(f"{path}: not inside {root}; give a file inside that folder.") from None
    if not rel.parts:
        raise InputError(f"{path}: this is the folder itself, not a file inside it.")
    for part in rel.parts:
        _check_component(part, str(path), InputError)
    resolved = abs_path.resolve()
    real_root = abs_root.resolve()
    if not resolved.is_relative_to(real_root):
        raise InputError(
            f"{path}: a symbolic link takes it outside {root} (to {resolved}); "
            "publish the target itself, or copy it into the folder."
        )
    return "/".join(rel.parts)


def normalise_prefix(prefix: str) -> str:
    """`prefix` as it goes in front of keys: "" or "a/b/" (surrounding slashes and spaces dropped).

    Raises ConfigError when a part of it is empty, ".", ".." or holds a control character.
    """
    stripped = prefix.strip().strip("/")
    if not stripped:
        return ""
    for part in stripped.split("/"):
        _check_component(part, f"key prefix {prefix!r}", ConfigError)
    return stripped + "/"


def object_key(prefix: str, relpath: str) -> str:
    """The S3 object key of `relpath` under `prefix` ("media", "media/" and "" all work).

    Raises InputError when `relpath` is empty, absolute, has "", "." or ".." components or
    control characters, or when the key would exceed S3's 1024 bytes; ConfigError for a bad prefix.
    """
    if not relpath:
        raise InputError("an empty file path cannot become an object key.")
    if relpath.startswith("/"):
        raise InputError(f"{relpath}: an absolute path cannot become an object key.")
    for part in relpath.split("/"):
        _check_component(part, relpath, InputError)
    key = normalise_prefix(prefix) + relpath
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InputError(
            f"{relpath}: the object key would be longer than S3's {MAX_KEY_BYTES} bytes; "
            "use a shorter name or prefix."
        )
    return key


def collect(paths: Sequence[Path]) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Expand files and folders into (file, root) pairs of media files, plus notes on skips.

    Folders are walked recursively in sorted order; names starting with "." are skipped and
    symbolic links to folders are not followed. `root` is the folder given, or the parent of a
    file given directly. Raises InputError for a path that does not exist.
    """
    found: list[tuple[Path, Path]] = []
    notes: list[str] = []
    seen: set[tuple[Path, Path]] = set()

    def add(file: Path, root: Path) -> None:
        if not is_media(file):
            notes.append(f"skipped {file}: not a media file (supported: {SUPPORTED})")
            return
        try:
            safe_relpath(file, root)
        except InputError as exc:
            notes.append(f"skipped {exc.message}")
            return
        pair = (file, root)
        if pair not in seen:
            seen.add(pair)
            found.append(pair)

    for given in paths:
        if not given.exists():
            raise InputError(f"{given}: no such file or folder. Check the path, or create it.")
        if given.is_dir():
            for file in _walk(given, notes):
                add(file, given)
        elif given.is_file():
            add(given, given.parent)
        else:
            notes.append(f"skipped {given}: not a regular file or folder")
    return found, notes


def _walk(folder: Path, notes: list[str]) -> list[Path]:
    """Non-hidden files under `folder`, sorted by path; links to folders are not followed."""

    def on_error(exc: OSError) -> None:
        notes.append(f"skipped {exc.filename}: cannot read the folder ({_reason(exc)})")

    files: list[Path] = []
    for current, dirnames, filenames in os.walk(folder, onerror=on_error):
        here = Path(current)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in list(dirnames):
            if (here / name).is_symlink():
                dirnames.remove(name)
                notes.append(f"skipped {here / name}: a symbolic link to a folder (not followed)")
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            file = here / name
            if file.is_file():
                files.append(file)
            elif file.is_symlink() and not file.exists():
                notes.append(f"skipped {file}: a broken symbolic link")
            else:
                notes.append(f"skipped {file}: not a regular file")
    # One order for the whole tree, by path components: "a/x" and "a/b/y" before "a b/z".
    files.sort(key=lambda file: file.relative_to(folder).parts)
    return files


def stream_name(key: str, extension: str) -> str:
    """The CloudFront RTMP stream name (not percent-encoded) of the object `key`.

    FLV is the key without ".flv"; MP4, M4V, MOV and F4V are "mp4:" + the key with its
    extension; MP3 is "mp3:" + the key without ".mp3". The whole object key is used, prefix
    included: "media/videos/clip.mp4" -> "mp4:media/videos/clip.mp4".
    """
    ext = extension.lower()
    if ext and not ext.startswith("."):
        ext = "." + ext
    media_type = MEDIA_TYPES.get(ext)
    if media_type is None:
        raise MediaError(
            f"{key}: {extension!r} cannot be streamed (supported: {SUPPORTED}).", "unsupported"
        )
    if not key.lower().endswith(ext) or len(key) == len(ext):
        raise MediaError(f"{key}: the key does not end in a name with {ext}.", "unsupported")
    if media_type.rtmp_flavour == "flv":
        return key[: -len(ext)]
    if media_type.rtmp_flavour == "mp3":
        return "mp3:" + key[: -len(ext)]
    return "mp4:" + key


def probe(path: Path) -> dict[str, Any] | None:
    """What ffprobe says about `path`, or None.

    The dict has "duration" (seconds, float), "width" and "height" (of the first video stream
    that is not cover art), "video_codec" and "audio_codec" (the first of each), each None when
    unknown, and "codecs" (names of the audio and video streams, in order). It is plain JSON.
    None when ffprobe is not installed, fails, takes more than PROBE_TIMEOUT seconds or says
    something unexpected; this never raises for a broken file (the reason is logged).
    """
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        log.debug("ffprobe not found; not probing %s", path)
        return None
    command = [
        ffprobe,
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        # "file:" and an absolute path: a name with ":" or a leading "-" is still just a file.
        "file:" + str(path.absolute()),
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            timeout=PROBE_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        log.warning(
            "ffprobe took more than %.0f s on %s; skipping its details", PROBE_TIMEOUT, path
        )
        return None
    except OSError as exc:
        log.warning("could not run ffprobe on %s: %s", path, exc)
        return None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        log.warning(
            "ffprobe could not read %s: %s",
            path,
            message[-1] if message else f"exit status {done.returncode}",
        )
        return None
    try:
        data = json.loads(done.stdout)
    except ValueError as exc:
        log.warning("ffprobe gave unreadable output for %s: %s", path, exc)
        return None
    if not isinstance(data, dict):
        log.warning("ffprobe gave unexpected output for %s", path)
        return None
    return _probe_info(data)


def _probe_info(data: dict[str, Any]) -> dict[str, Any]:
    """Pick the fields mediapub uses out of ffprobe's JSON."""
    fmt = data.get("format")
    streams = data.get("streams")
    if not isinstance(fmt, dict):
        fmt = {}
    if not isinstance(streams, list):
        streams = []
    codecs: list[str] = []
    info: dict[str, Any] = {
        "duration": _float(fmt.get("duration")),
        "width": None,
        "height": None,
        "video_codec": None,
        "audio_codec": None,
        "codecs": codecs,
    }
    longest: float | None = None
    for stream in streams:
        if not isinstance(stream, dict):
            continue
        codec_type = stream.get("codec_type")
        codec = stream.get("codec_name")
        disposition = stream.get("disposition")
        # Cover art in an MP3 or MP4 is a one-frame "video" stream; it is not the picture.
        if isinstance(disposition, dict) and disposition.get("attached_pic") == 1:
            continue
        if codec_type not in ("video", "audio"):
            continue
        if isinstance(codec, str):
            codecs.append(codec)
        stream_duration = _float(stream.get("duration"))
        if stream_duration is not None and (longest is None or stream_duration > longest):
            longest = stream_duration
        if codec_type == "video" and info["video_codec"] is None:
            info["video_codec"] = codec if isinstance(codec, str) else None
            info["width"] = _int(stream.get("width"))
            info["height"] = _int(stream.get("height"))
        elif codec_type == "audio" and info["audio_codec"] is None:
            info["audio_codec"] = codec if isinstance(codec, str) else None
    if info["duration"] is None:
        info["duration"] = longest
    return info


def _float(value: object) -> float | None:
    """`value` (a number or numeric string from ffprobe) as a finite float >= 0, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return number


def _int(value: object) -> int | None:
    """`value` (an integer or integer string from ffprobe) as a non-negative int, or None."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number >= 0 else None
