"""The exception root of mediapub and the exit statuses the CLI maps them to."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """Every exit code `mediapub` can return; the CLI is the only place that uses them."""

    OK = 0
    ERROR = 1
    USAGE = 2
    CONFIG = 3
    AWS = 4
    PARTIAL = 5
    TIMEOUT = 6
    LOCAL_STACK = 7
    INTERRUPTED = 130


class PipelineError(Exception):
    """Base of every error mediapub raises on purpose: a message that carries the fix."""

    exit_status = ExitStatus.ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(PipelineError):
    """The configuration (file, environment or flags) is invalid."""

    exit_status = ExitStatus.CONFIG


class InputError(PipelineError):
    """A path given on the command line cannot be published."""

    exit_status = ExitStatus.USAGE


class AWSError(PipelineError):
    """An AWS (or compatible endpoint) call failed; the message names the resource."""

    exit_status = ExitStatus.AWS

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class LocalStackError(PipelineError):
    """The embedded local stack could not start or stopped working."""

    exit_status = ExitStatus.LOCAL_STACK


class MediaError(PipelineError):
    """One media file cannot be published (empty, unreadable, vanished)."""

    def __init__(self, message: str, code: str = "media") -> None:
        super().__init__(message)
        self.code = code
