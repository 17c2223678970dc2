"""Model sizes and the transformer on real text: validation bpc against training time, same data,
same machine, the same moments.

The data: Debian's fortunes (bench/fortunes.py, about 26,000 caption-sized pieces, 2.4 M
characters) imported from a CSV and prepped text-only (`--encoder none`), the ordinary way.

Each network trains in turns of `--slice` seconds, round robin, so all of them see the same machine
load; validation (off the clock) follows each turn. Each network's learning-rate schedule is as
long as the steps a short probe says fit in the budget (what choosing `--epochs` for that time
does). Printed, one JSON line each:
- `curve`: a network's (training seconds, validation bpc) after every turn;
- `model`: per network, its parameters, the best validation bpc reached by each mark (`--marks`
  minutes), captions/s, and, from its NumPy twin, generation ms per caption (5 captions of up to
  150 characters) and a cold `caption`-like start in a fresh process (import, load model.npz,
  write 5 captions);
- `summary`: each network's bpc at the last mark minus today's default's (negative = better).

    .venv/bin/python bench/model.py [--minutes 15] [--marks 5,10,15] [--slice 60] [--threads 1]
    .venv/bin/python bench/model.py --nets today,lstm-base --minutes 2 --marks 1,2   # quick look
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def emit(**data: object) -> None:
    print(json.dumps(data), flush=True)


def networks() -> dict[str, tuple[object, object]]:
    """name -> (ModelConfig, TrainConfig): today's default (the small LSTM at a constant rate,
    each batch's plain mean loss, as before sizes existed) and the rungs of the ladder with their
    own rate and schedule."""
    from instacap import presets
    from instacap.config import ModelConfig, TrainConfig

    today = TrainConfig(lr=5e-3, schedule="constant", warmup=0, weigh_tokens=False)
    nets = {"today": (ModelConfig(), today)}
    for arch in presets.ARCH_NAMES:
        for size in presets.SIZE_NAMES:
            model = presets.model_config(size, arch)
            nets[f"{arch}-{size}"] = (model, presets.resolve(model, TrainConfig()))
    # The base LSTM with each batch's plain mean loss: what weighing batches by tokens does.
    base, config = nets["lstm-base"]
    nets["lstm-base-plain"] = (base, dataclasses.replace(config, weigh_tokens=False))
    return nets


def prepare(home: Path) -> None:
    """Import the fortunes CSV and prep it text-only, through the CLI as a user would."""
    sys.path.insert(0, str(HERE))
    import fortunes

    table = fortunes.write(home / "fortunes-csv")
    for args in (["import", str(table)], ["prep", "--encoder", "none"]):
        subprocess.run([sys.executable, "-m", "instacap", *args], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip


def cold_start(arrays: Path, meta: Path) -> float:
    """Seconds for a fresh process to import instacap's NumPy decoder, load the weights and write
    5 captions (what `instacap caption` costs without the photo encoder)."""
    code = f"""
import json, time, numpy as np
t0 = time.perf_counter()
from instacap import numpy_model
from instacap.config import ModelConfig, SampleConfig
from instacap.sampling import generate
from instacap.tokenizer import Vocab
m = json.load(open({str(meta)!r}))
w = dict(np.load({str(arrays)!r}))
vocab = Vocab.from_json(m["vocab"])
net = numpy_model.build(ModelConfig(**m["config"]), vocab.size, 0, w)
generate(net, vocab, np.zeros((1, 0), np.float32), SampleConfig(n=5, seed=0))
print(time.perf_counter() - t0)
"""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=15.0, help="training minutes per network")
    parser.add_argument("--marks", default="5,10,15", help="minutes at which bpc is reported")
    parser.add_argument("--slice", type=float, default=60.0, help="seconds per turn")
    parser.add_argument("--nets", default="today,lstm-base,lstm-large,transformer-base")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: fair on a busy machine)"
    )
    args = parser.parse_args()
    home = Path(os.environ.setdefault("INSTACAP_HOME", tempfile.mkdtemp(prefix="instacap-model-")))
    prepare(home)

    import numpy as np
    import torch

    from instacap import dataset, network, numpy_model, runtime, sizing, training
    from instacap.batching import epoch_batches
    from instacap.config import SampleConfig
    from instacap.model import build
    from instacap.progress import SILENT
    from instacap.sampling import generate

    runtime.tune_allocator()
    torch.set_num_threads(args.threads)
    ds = dataset.load("default")
    emit(bench="data", captions_train=len(ds.train), captions_val=len(ds.val),
         train_tokens=sizing.train_tokens(ds), vocab=ds.vocab.size,
         auto_size=sizing.presets.auto_size(sizing.train_tokens(ds)), threads=args.threads)  # fmt: skip
    budget = 60 * args.minutes
    marks = [float(m) * 60 for m in args.marks.split(",")]
    chosen = {k: v for k, v in networks().items() if k in args.nets.split(",")}
    states = {}
    for name, (model_cfg, train_cfg) in chosen.items():
        runtime.seed_everything(0)
        model = build(model_cfg, ds.vocab.size, 0)
        opt = torch.optim.AdamW(
            model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay
        )
        trainer = training._Trainer(ds, model, opt, train_cfg, torch.device("cpu"), SILENT)
        # Probe: seconds per step, to make the schedule as long as the budget.
        probe = epoch_batches(trainer.train.lengths, train_cfg.batch_size, True, 0, 0)[:8]
        t0 = time.perf_counter()
        for idx in probe:
            trainer._step(idx, 0)
        per_step = (time.perf_counter() - t0) / len(probe)
        runtime.seed_everything(0)
        model = build(model_cfg, ds.vocab.size, 0)
        opt = torch.optim.AdamW(
            model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay
        )
        trainer = training._Trainer(ds, model, opt, train_cfg, torch.device("cpu"), SILENT)
        trainer.total_steps = max(1, int(budget / per_step))
        states[name] = {"trainer": trainer, "cfg": train_cfg, "model_cfg": model_cfg, "spent": 0.0,
                        "steps": 0, "captions": 0, "epoch": 0, "queue": [], "curve": []}  # fmt: skip
    while any(st["spent"] < budget for st in states.values()):
        for name, st in states.items():
            if st["spent"] >= budget:
                continue
            stop = min(st["spent"] + args.slice, budget)
            while st["spent"] < stop:
                if not st["queue"]:
                    cfg = st["cfg"]
                    st["queue"] = epoch_batches(
                        st["trainer"].train.lengths, cfg.batch_size, True, 0, st["epoch"]
                    )
                    st["epoch"] += 1
                idx = st["queue"].pop(0)
                t0 = time.perf_counter()
                st["trainer"]._step(idx, st["steps"])
                st["spent"] += time.perf_counter() - t0
                st["steps"] += 1
                st["captions"] += len(idx)
            st["curve"].append(
                (round(st["spent"], 1), round(st["trainer"].validate() / math.log(2), 4))
            )
            emit(bench="turn", net=name, seconds=st["curve"][-1][0], val_bpc=st["curve"][-1][1])
    results = {}
    for name, st in states.items():
        model_cfg, model = st["model_cfg"], st["trainer"].model
        # A turn ends at the first step past its time, so a mark counts turns up to 2% past it.
        at = {
            f"{m / 60:g}min": min((b for s, b in st["curve"] if s <= m * 1.02), default=None)
            for m in marks
        }
        with tempfile.TemporaryDirectory() as tmp:
            arrays = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
            np.savez(Path(tmp) / "model.npz", **arrays)
            (Path(tmp) / "meta.json").write_text(json.dumps({"vocab": ds.vocab.to_json(),
                                                 "config": model_cfg.__dict__}))  # fmt: skip
            twin = numpy_model.build(model_cfg, ds.vocab.size, 0, arrays)
            t0 = time.perf_counter()
            caps = generate(twin, ds.vocab, np.zeros((4, 0), np.float32), SampleConfig(n=5, seed=0))
            gen_ms = 1000 * (time.perf_counter() - t0) / 20
            cold = cold_start(Path(tmp) / "model.npz", Path(tmp) / "meta.json")
        results[name] = at
        emit(bench="model", net=name, arch=model_cfg.arch, size=model_cfg.size,
             params=network.count(model_cfg, ds.vocab.size, 0), steps=st["steps"], epochs=round(st["steps"] / max(1, len(epoch_batches(st["trainer"].train.lengths, st["cfg"].batch_size, True, 0, 0))), 2),
             captions_per_s=round(st["captions"] / st["spent"], 1), best_bpc_by=at,
             generate_ms_per_caption=round(gen_ms, 1), cold_caption_s=round(cold, 2),
             sample=caps[0][0].text)  # fmt: skip
        emit(bench="curve", net=name, points=st["curve"])
    last = f"{marks[-1] / 60:g}min"
    base = results.get("today", {}).get(last)
    emit(bench="summary", mark=last, bpc_vs_today={
        k: (round(v[last] - base, 4) if v.get(last) is not None and base is not None else None)
        for k, v in results.items()})  # fmt: skip


if __name__ == "__main__":
    main()
