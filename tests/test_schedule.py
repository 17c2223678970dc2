"""The learning rate over training: warm-up, cosine decay to a tenth, or constant."""

from __future__ import annotations

import itertools

import pytest

from instacap.config import TrainConfig
from instacap.schedule import FLOOR, learning_rate


def test_warm_up_then_cosine_decay_to_a_tenth():
    config = TrainConfig(lr=0.01, warmup=10, schedule="cosine")
    rates = [learning_rate(s, 1000, config) for s in range(1000)]
    assert rates[0] == pytest.approx(0.001)  # the first of 10 warm-up steps
    assert rates[9] == pytest.approx(0.01)  # the peak once warm
    assert all(a >= b for a, b in itertools.pairwise(rates[9:]))  # never rises again
    assert rates[-1] == pytest.approx(0.01 * FLOOR, rel=1e-3)


def test_short_runs_warm_up_for_at_most_a_tenth_and_constant_stays_flat():
    assert learning_rate(
        0, 20, TrainConfig(lr=0.01, warmup=100, schedule="cosine")
    ) == pytest.approx(0.005)
    flat = TrainConfig(lr=0.01, schedule="constant")
    assert {learning_rate(s, 50, flat) for s in range(50)} == {0.01}
