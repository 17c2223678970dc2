"""The learning rate at each optimiser step: linear warm-up, then a cosine decay to a tenth.

A pure function of the step, so `--resume` continues the same curve. Warm-up keeps the first steps
of a wide network (whose random start gives large gradients) from undoing AdamW's estimates; the
decay lets the last epochs settle into a minimum instead of bouncing around it (docs/model.md).
"""

from __future__ import annotations

import math

from instacap.config import TrainConfig

FLOOR = 0.1  # the decay ends at this share of the peak rate


def learning_rate(step: int, total_steps: int, config: TrainConfig) -> float:
    """The rate for optimiser step `step` (0-based) of `total_steps`; `config.lr` is the peak."""
    peak = config.lr if config.lr is not None else 0.0
    if config.schedule in ("constant", None) or total_steps <= 1:
        return peak
    warmup = min(config.warmup, total_steps // 10)
    if step < warmup:
        return peak * (step + 1) / warmup
    done = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return peak * (FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * done)))
