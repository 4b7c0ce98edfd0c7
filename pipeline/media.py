"""What a publishable media file is: supported types, safe object keys and RTMP stream names."""

from __future__ import annotations

import base64
import codecs
import hashlib
import logging
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from pipeline.errors import ConfigError, InputError, MediaError

log = logging.getLogger(__name__)

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
    real_path: str = field(default="", compare=False)
    """The file's absolute path with symbolic links resolved."""

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


def media_info(path: Path, root: Path, *, check_content: bool = True) -> MediaFile:
    """Describe the media file `path`, found in the folder `root`.

    Raises MediaError (code "unsupported", "empty", "not_media", "missing" or "unreadable")
    when the file cannot be published, and InputError when its name cannot become an object
    key. "not_media" means the start of the file does not match its extension (see `sniff`).
    """
    extension = extension_of(path)
    media_type = MEDIA_TYPES.get(extension)
    if media_type is None:
        raise MediaError(
            f"{path}: not a supported media file (supported: {SUPPORTED}).", "unsupported"
        )
    relpath, real_path = _checked_relpath(path, root)
    try:
        st = path.stat()
    except OSError as exc:
        raise _read_failure(path, exc) from None
    if not stat.S_ISREG(st.st_mode):
        raise MediaError(f"{path}: not a regular file; only files can be published.", "unsupported")
    if st.st_size == 0:
        raise MediaError(
            f"{path} is empty (0 bytes); nothing to publish. Check the file finished copying.",
            "empty",
        )
    info = MediaFile(
        path=path,
        relpath=relpath,
        size=st.st_size,
        kind=media_type.kind,
        content_type=media_type.content_type,
        extension=extension,
        real_path=str(real_path),
    )
    if check_content:
        check_media_content(info)
    return info


def check_media_content(info: MediaFile) -> None:
    """MediaError ("not_media") when the start of the file does not match its extension."""
    reason = sniff(info.path, info.extension)
    if reason is not None:
        raise MediaError(
            f"{info.path}: {reason}; not published. "
            f"Check that the file is really {_CONTAINERS[info.extension].description}.",
            "not_media",
        )


def _read_failure(path: Path, exc: OSError) -> MediaError:
    """The MediaError ("missing" or "unreadable") for failing to stat or read `path`."""
    if isinstance(exc, FileNotFoundError):
        return MediaError(
            f"{path}: the file vanished before it could be published. "
            "Check it was not moved or deleted.",
            "missing",
        )
    return MediaError(
        f"{path}: cannot read the file ({_reason(exc)}). Check its permissions.", "unreadable"
    )


# --- content sniffing --------------------------------------------------------------------------

SNIFF_BYTES = 64 * 1024
"""How much of the start of a file `sniff` reads."""

_BOX_TYPES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})
"""Box (atom) types an MP4 or QuickTime file can start with; "pnot" is a QuickTime preview."""


def _iso_bmff_problem(head: bytes, complete: bool) -> str | None:
    """Why `head` does not start like an MP4/QuickTime (ISO base media) file, or None."""
    if len(head) < 8 or head[4:8] not in _BOX_TYPES:
        return "no ftyp/moov box at the start"
    size = int.from_bytes(head[0:4], "big")
    if size == 1:  # a 64-bit size follows the type
        if len(head) < 16 or int.from_bytes(head[8:16], "big") < 16:
            return "the first box has an invalid 64-bit size"
    elif 1 < size < 8:
        return f"the first box has an invalid size ({size})"
    return None


def _flv_problem(head: bytes, complete: bool) -> str | None:
    """Why `head` does not start like an FLV file, or None."""
    if not head.startswith(b"FLV") or len(head) < 4:
        return "no FLV header at the start"
    if head[3] != 1:
        return f"unknown FLV version {head[3]}"
    return None


def _mpeg_frame_problem(header: bytes) -> str | None:
    """Why `header` (4 bytes) is not an MPEG-1/2/2.5 Layer III audio frame header, or None."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return "no ID3v2 tag or MPEG audio frame at the start"
    version = (header[1] >> 3) & 0b11
    layer = (header[1] >> 1) & 0b11
    bitrate = header[2] >> 4
    sample_rate = (header[2] >> 2) & 0b11
    if version == 0b01:
        return "the first MPEG audio frame has the reserved version"
    if layer != 0b01:
        name = {0b00: "a reserved layer", 0b10: "Layer II", 0b11: "Layer I"}[layer]
        return f"the MPEG audio is {name}, not Layer III"
    if bitrate == 0b1111:
        return "the first MPEG audio frame has an invalid bitrate"
    if sample_rate == 0b11:
        return "the first MPEG audio frame has the reserved sample rate"
    return None


def _mp3_problem(head: bytes, complete: bool) -> str | None:
    """Why `head` does not start like an MP3 file, or None.

    An MP3 starts with an MPEG Layer III frame header, or with ID3v2 tags followed by a frame
    sync. When the tags run past what was read, the tags alone are taken as enough.
    """
    if not head.startswith(b"ID3"):
        return _mpeg_frame_problem(head[:4])
    offset = 0
    while head.startswith(b"ID3", offset):  # some files carry more than one tag
        header = head[offset : offset + 10]
        if len(header) < 10:
            return "the ID3v2 tag header is cut short" if complete else None
        major, revision, flags, size_bytes = header[3], header[4], header[5], header[6:10]
        if major not in (2, 3, 4) or revision == 0xFF or any(b & 0x80 for b in size_bytes):
            return "the ID3v2 tag header is damaged"
        size = 0
        for byte in size_bytes:  # "syncsafe": 7 bits per byte
            size = (size << 7) | byte
        offset += 10 + size + (10 if flags & 0x10 else 0)  # 0x10: a footer follows
    while offset < len(head) and head[offset] == 0:  # padding some taggers leave after the tag
        offset += 1
    if complete and offset > len(head):
        return "the ID3v2 tag claims to be longer than the file"
    if offset + 2 > len(head):
        return None
    if head[offset] != 0xFF or head[offset + 1] & 0xE0 != 0xE0:
        return "no MPEG audio frame after the ID3v2 tag"
    return None


class _Container(NamedTuple):
    """What a supported extension promises about the content of a file."""

    name: str
    """For "content is not <name>"."""
    description: str
    """For "Check that the file is really <description>"."""
    problem: Callable[[bytes, bool], str | None]
    """Given the start of the file and whether that is all of it: why it does not fit, or None."""


_ISO_BMFF = _Container("an MP4/QuickTime file", "an MP4 or QuickTime video", _iso_bmff_problem)
_FLV = _Container("an FLV file", "an FLV video", _flv_problem)
_MP3 = _Container("an MP3 file", "an MP3 audio file", _mp3_problem)

_CONTAINERS: dict[str, _Container] = {
    ".mp4": _ISO_BMFF,
    ".m4v": _ISO_BMFF,
    ".mov": _ISO_BMFF,
    ".f4v": _ISO_BMFF,
    ".flv": _FLV,
    ".mp3": _MP3,
}

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"%PDF-", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x1a\x45\xdf\xa3", "a Matroska/WebM video"),
    (b"OggS", "an Ogg file"),
    (b"fLaC", "a FLAC file"),
)
"""Common things a misnamed file turns out to be, by how they start."""


def _identify(head: bytes) -> str | None:
    """What `head` looks like when it is not what its extension says ("a PNG image"), or None."""
    for container in (_ISO_BMFF, _FLV, _MP3):
        if container.problem(head, False) is None:
            return container.description
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            return what
    if head.startswith(b"RIFF") and head[8:12] in (b"WAVE", b"AVI "):
        return "a WAV file" if head[8:12] == b"WAVE" else "an AVI video"
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head)  # a cut-off last character
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 0x20 and c not in "\t\n\r\f" for c in text):
        return None
    start = text.lstrip("\ufeff \t\r\n").lower()
    if start.startswith(("<!doctype html", "<html")):
        return "an HTML page"
    return "plain text"


def sniff(path: Path, extension: str) -> str | None:
    """Check that the content of `path` plausibly is what `extension` (".mp4", ...) says.

    Reads at most the first SNIFF_BYTES of the file. Returns None when they fit the container
    of the extension, else a short reason for a message ("content is not an MP4/QuickTime
    file (no ftyp/moov box at the start)"). Raises MediaError "missing" or "unreadable" when
    the file cannot be read, and "unsupported" for an extension that is not a media type.
    """
    ext = extension.lower()
    if ext and not ext.startswith("."):
        ext = "." + ext
    container = _CONTAINERS.get(ext)
    if container is None:
        raise MediaError(
            f"{path}: {extension!r} is not a media type (supported: {SUPPORTED}).", "unsupported"
        )
    try:
        with path.open("rb") as stream:
            head = stream.read(SNIFF_BYTES)
    except OSError as exc:
        raise _read_failure(path, exc) from None
    if not head:
        return "the file is empty"
    problem = container.problem(head, len(head) < SNIFF_BYTES)
    if problem is None:
        return None
    what = _identify(head)
    if what is None:
        return f"content is not {container.name} ({problem})"
    return f"content is {what}, not {container.name} ({problem})"


def _reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


@dataclass(frozen=True)
class Digests:
    """A file's SHA-256 (hex; mediapub's identity of content) and MD5 (base64; what S3 checks
    an upload against in Content-MD5)."""

    sha256: str
    md5_base64: str


def file_digests(path: Path, chunk: int = 1 << 20) -> Digests:
    """Both digests of the file at `path`, from one read, `chunk` bytes at a time."""
    if chunk <= 0:
        raise ValueError("chunk must be a positive number of bytes")
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    try:
        with path.open("rb") as stream:
            while True:
                count = stream.readinto(view)
                if not count:
                    break
                sha256.update(view[:count])
                md5.update(view[:count])
    except FileNotFoundError:
        raise MediaError(f"{path}: the file vanished while it was being read.", "missing") from None
    except OSError as exc:
        raise MediaError(f"{path}: cannot read the file ({_reason(exc)}).", "unreadable") from None
    return Digests(sha256.hexdigest(), base64.b64encode(md5.digest()).decode("ascii"))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The hex SHA-256 of the file at `path`."""
    return file_digests(path, chunk).sha256


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
    return _checked_relpath(path, root)[0]


def _checked_relpath(path: Path, root: Path) -> tuple[str, Path]:
    """`safe_relpath`, and the path with symbolic links resolved."""
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
    real_root = _real_root(abs_root)
    if not resolved.is_relative_to(real_root):
        raise InputError(
            f"{path}: a symbolic link takes it outside {root} (to {resolved}); "
            "publish the target itself, or copy it into the folder."
        )
    return "/".join(rel.parts), resolved


# A folder's resolved path, kept for a few seconds: a publish or a rescan checks thousands of
# files in the same folder, and a folder re-pointed by a symbolic link is seen soon after.
_ROOT_SECONDS = 5.0
_roots: dict[Path, tuple[float, Path]] = {}


def _real_root(root: Path) -> Path:
    now = time.monotonic()
    known = _roots.get(root)
    if known is not None and now - known[0] < _ROOT_SECONDS:
        return known[1]
    real = root.resolve()
    _roots[root] = (now, real)
    return real


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


def require_existing(paths: Sequence[Path]) -> None:
    """InputError for the first path that does not exist (cheap: no folder is walked)."""
    for given in paths:
        if not given.exists():
            raise InputError(f"{given}: no such file or folder. Check the path, or create it.")


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
        require_existing([given])
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
