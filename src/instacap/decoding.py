"""Decoding photos for prep: files -> uint8 [S, S, 3] arrays, beside the network that encodes them.

Decoding runs in DataLoader worker processes (which die with prep, however prep ends) or, with
none, in a thread one batch ahead: Pillow releases the GIL while it decodes and resizes, so the next
batch is read while the network runs on this one.
"""

from __future__ import annotations

import functools
import os
import queue
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from instacap import images, runtime
from instacap.encoders import Encoder, fit
from instacap.errors import BadImage

Chunk = list[tuple[int, np.ndarray | None, str]]  # (position, image or None, skip reason)


class _Decode:
    """Map-style dataset for the DataLoader: file -> (position, uint8 [S, S, 3] or reason)."""

    def __init__(self, size: int, files: list[Path], positions: list[int]) -> None:
        # Only the size travels to the workers, not the encoder (its network may be large).
        self.size, self.files, self.positions = size, files, positions

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray | None, str]:
        try:
            img = images.open_rgb(self.files[i], draft=(self.size, self.size))
            return self.positions[i], fit(img, self.size), ""
        except BadImage as exc:
            return self.positions[i], None, exc.reason


def _collate(items: Chunk) -> Chunk:
    return items  # stacking happens in the main process, after bad images are dropped


def decoded(
    encoder: Encoder, files: list[Path], positions: list[int], batch_size: int, workers: int
) -> Iterator[Chunk]:
    """Chunks of (position, uint8 [S, S, 3] or None, skip reason), decoded in `workers` processes
    (0: here). bench/prep.py times this alone as the decoding limit of the pipeline."""
    from torch.utils.data import DataLoader

    # Workers decode small chunks so that both start at once and the first encoder batch is
    # ready early; the caller gathers chunks into encoder batches of `batch_size`.
    chunk = max(1, min(8, -(-batch_size // max(workers, 1))))
    decode: Any = _Decode(encoder.size, files, positions)  # a map-style dataset, duck-typed
    loader: Any = DataLoader(
        decode,
        batch_size=chunk,
        num_workers=workers,
        collate_fn=_collate,
        # Enough decoded ahead to fill the next encoder batch while this one runs.
        prefetch_factor=(-(-batch_size // (chunk * workers)) + 1) if workers else None,
        multiprocessing_context=_mp_context() if workers else None,
        # Workers end with prep however prep ends (kill -9, the OOM killer), never linger.
        worker_init_fn=functools.partial(runtime.die_with_parent, os.getpid()) if workers else None,
    )
    # Without processes, a thread decodes ahead instead: Pillow releases the GIL while it decodes
    # and resizes, so the next batch is read while the network runs on this one.
    return iter(loader) if workers else _ahead(iter(loader), depth=-(-batch_size // chunk) + 1)


def _ahead(items: Iterator[Any], depth: int) -> Iterator[Any]:
    """`items`, produced by a background thread up to `depth` ahead; its errors are raised here."""
    done = object()
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        """Queue `item` unless the consumer has gone; False once it has."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put((done, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put((done, exc))

    thread = threading.Thread(target=produce, name="instacap-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, tuple) and len(item) == 2 and item[0] is done:
                if item[1] is not None:
                    raise item[1]
                return
            yield item
    finally:
        stop.set()  # the consumer stopped early (an error, Ctrl-C): let the thread end


def _mp_context() -> str | None:
    # fork is fastest to start and fine here (workers only decode with PIL); elsewhere the default.
    return "fork" if sys.platform.startswith("linux") else None
