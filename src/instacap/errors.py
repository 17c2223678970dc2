"""The exception family. Each message is the one sentence the user sees: what went wrong, what to do."""

from __future__ import annotations


class InstacapError(Exception):
    """Base of every error instacap reports to the user (exit code 1, no traceback)."""


class InputError(InstacapError):
    """A file, folder or value the user gave cannot be used."""


class BadImage(InputError):
    """An image file cannot be decoded; `reason` is a short tag used to count skips."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class CacheError(InstacapError):
    """The cache directory is missing, unwritable or holds something unexpected."""


class DiskFull(CacheError):
    """The disk holding the cache filled up while writing; nothing was left half-written."""


class NotReady(InstacapError):
    """A step needs an earlier step first (e.g. `train` before `prep`)."""


class CheckpointError(InstacapError):
    """A saved run is truncated, tampered with or from an incompatible version."""


class ScrapeError(InstacapError):
    """Instagram refused or failed a request in a way that stops the current account."""


class RateLimited(ScrapeError):
    """Instagram kept rate-limiting past the wait the user allowed."""


class WeightsUnavailable(InstacapError):
    """Pretrained encoder weights are not cached and cannot be downloaded."""
