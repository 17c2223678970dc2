"""The CUDA path: training on one GPU (bfloat16 autocast where supported, page-locked batches)
and `--nproc 2` over NCCL on two. These need a CUDA GPU and skip themselves without one; the
machine this project is built on has none, so the CUDA path is untested there (docs/scale.md)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from instacap import training
from instacap.batching import Tensors
from instacap.config import ModelConfig, TrainConfig

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU; this machine has none"
)
pytest_plugins = ["tiny_data"]  # the `tiny` data set fixture

SMALL = ModelConfig(embed=16, hidden=32)


def test_batches_reach_the_gpu_from_page_locked_memory(tiny) -> None:
    feats, inputs, targets = Tensors(tiny.train).batch(np.arange(4), True, torch.device("cuda"))
    assert feats.is_cuda and inputs.is_cuda and targets.is_cuda
    assert inputs.dtype == torch.int64 and feats.dtype == torch.float32


def test_training_on_the_gpu_learns_like_on_the_cpu(tiny) -> None:
    runs = {}
    for device in ("cpu", "cuda"):
        config = TrainConfig(epochs=3, batch_size=8, lr=5e-3, device=device)
        runs[device] = training.fit(tiny, SMALL, config, name=f"on-{device}")
    gpu, cpu = runs["cuda"].best_val_bpc, runs["cpu"].best_val_bpc
    # bf16 autocast and other kernels: not the same numbers, the same learning.
    assert math.isfinite(gpu) and abs(gpu - cpu) < 0.3, (gpu, cpu)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_two_gpus_over_nccl(tiny, instacap_home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "instacap", "train", "--data", "demo", "--epochs", "2",
         "--batch-size", "8", "--nproc", "2", "--device", "cuda", "--json"],
        env={**os.environ, "INSTACAP_HOME": str(instacap_home)},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert math.isfinite(json.loads(done.stdout)["best_val_bpc"])
