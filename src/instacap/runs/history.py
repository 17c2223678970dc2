"""A run's training history: `metrics.jsonl`, one line per finished epoch."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from instacap.files import write_atomic

METRICS_FILE = "metrics.jsonl"


def write(run_path: Path, history: Sequence[Mapping[str, Any]]) -> None:
    """metrics.jsonl, rewritten whole so resuming never duplicates a line."""
    lines = "".join(json.dumps(dict(h), ensure_ascii=False) + "\n" for h in history)
    write_atomic(run_path / METRICS_FILE, lines.encode())


def read(run_path: Path) -> list[dict[str, Any]]:
    """The finished epochs of a run; [] when there are none or the file is gone. A damaged line
    (only a file edited by hand has one: the file is replaced whole) is skipped, not fatal."""
    try:
        lines = (run_path / METRICS_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "epoch" in row:
            out.append(row)
    return out
