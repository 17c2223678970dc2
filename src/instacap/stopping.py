"""Ctrl-C during training: a flag checked between batches, so no optimiser step is cut in half.

The first Ctrl-C sets the flag; training saves `last.pt` at the last finished batch and raises
`Interrupted`. A second one stops at once (`HardStop`), keeping the `last.pt` of the last epoch.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Interrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C after saving last.pt; `name` is the run to resume."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class HardStop(KeyboardInterrupt):
    """A second Ctrl-C, possibly in the middle of an optimiser step."""


@contextmanager
def stop_flag() -> Iterator[Callable[[], bool]]:
    """Turn Ctrl-C into a flag checked between batches, so no optimiser step is cut in half."""
    hit = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield hit.is_set
        return

    def handler(signum: int, frame: Any) -> None:
        if hit.is_set():  # a second Ctrl-C: stop right now, without saving a half-done step
            raise HardStop
        hit.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield hit.is_set
    finally:
        signal.signal(signal.SIGINT, previous)
