"""Caption speed: the stateful batched sampler (NumPy, as `instacap caption` runs it on CPU, and
torch) against re-running the whole prefix each step, and the cold start of
`instacap caption photo.jpg --n 5` as a whole process (thumbnail encoder), next to a bare
`import torch` that the NumPy path avoids.

Run: .venv/bin/python bench/caption.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("INSTACAP_HOME", tempfile.mkdtemp(prefix="instacap-bench-"))

    import numpy as np
    import torch

    from instacap import dataset, demo, runs, runtime, training
    from instacap.config import ModelConfig, PrepConfig, SampleConfig, TrainConfig
    from instacap.numpy_model import NumpyModel
    from instacap.sampling import generate, generate_prefix
    from instacap.tokenizer import EOS

    runtime.tune_allocator()
    torch.set_num_threads(1)
    demo.ensure(n=60)
    ds = dataset.build(PrepConfig(encoder="thumbnail", min_count=1, workers=0), demo=True)
    training.fit(
        ds, ModelConfig(), TrainConfig(epochs=1, device="cpu"), name="bench", overwrite=True
    )
    run = runs.load("bench", backend="torch")
    feats = ds.val.features(np.arange(1))  # one photo
    config = SampleConfig(n=5, seed=0, max_len=150)
    # "typical": the model as trained (short captions); "full_150": EOS forbidden, so every
    # caption runs to the 150-token cap, where re-running the prefix costs the most.
    full = copy.deepcopy(run.model)
    with torch.no_grad():
        full.out.bias[EOS] = -1e9
    for case, model in (("typical", run.model), ("full_150", full)):
        arrays = {k: v.numpy() for k, v in model.state_dict().items()}
        twin = NumpyModel(model.config, model.vocab_size, model.feature_dim, arrays)
        ms, per_token = {}, {}
        one_by_one = _one_by_one(generate_prefix)
        methods = (("stateful_batched", generate, twin), ("stateful_batched_torch", generate, model),
                   ("prefix_batched", generate_prefix, model),
                   ("prefix_one_by_one", one_by_one, model))  # fmt: skip
        for name, fn, net in methods:
            times, tokens = [], 0.0
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                caps = fn(net, run.vocab, feats, config)[0]
                times.append(time.perf_counter() - t0)
                tokens = sum(len(c.tokens) + c.ended for c in caps) / config.n
            ms[name] = statistics.median(times) * 1000 / config.n
            per_token[name] = ms[name] / tokens
            print(json.dumps({"bench": "caption", "case": case, "method": name,
                              "ms_per_caption": round(ms[name], 2),
                              "tokens_per_caption": tokens,
                              "ms_per_token": round(per_token[name], 3)}), flush=True)  # fmt: skip
        # Per generated token: the one-by-one captions differ in length (seeds of their own).
        base, base_torch = per_token["stateful_batched"], per_token["stateful_batched_torch"]
        print(json.dumps({"bench": "caption", "case": case,
                          "speedup_vs_prefix_one_by_one": round(per_token["prefix_one_by_one"] / base, 1),
                          "speedup_vs_prefix_batched": round(per_token["prefix_batched"] / base, 1),
                          "torch_speedup_vs_prefix_one_by_one":
                              round(per_token["prefix_one_by_one"] / base_torch, 1)}))  # fmt: skip

    photo = Path(ds.val.images[0])
    exe = Path(sys.executable).with_name("instacap")
    cmd = [str(exe), "caption", str(photo), "--n", "5", "--run", "bench"]
    # Reference in the same run: a bare `import torch`, the floor of any process that uses it
    # (the NumPy decoder and the thumbnail encoder keep `instacap caption` below it).
    floor = [sys.executable, "-c", "import torch"]
    walls: dict[str, list[float]] = {"cli": [], "import_torch": []}
    for _ in range(args.repeat):
        for key, argv in (("cli", cmd), ("import_torch", floor)):
            t0 = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            walls[key].append(time.perf_counter() - t0)
    cli, torch_s = statistics.median(walls["cli"]), statistics.median(walls["import_torch"])
    print(json.dumps({"bench": "caption", "cold_cli_s": round(cli, 2),
                      "import_torch_s": round(torch_s, 2), "under_3_s": cli < 3.0,
                      "runs": [round(w, 2) for w in walls["cli"]], "encoder": "thumbnail"}))  # fmt: skip


def _one_by_one(fn):  # type: ignore[no-untyped-def]
    """The original way: each caption on its own, re-running the whole prefix at every step."""

    def run(model, vocab, feats, config):  # type: ignore[no-untyped-def]
        one = dataclasses.replace(config, n=1)
        caps = [fn(model, vocab, feats, dataclasses.replace(one, seed=config.seed + i))[0][0]
                for i in range(config.n)]  # fmt: skip
        return [caps]

    return run


if __name__ == "__main__":
    main()
