"""Each network of the size ladder on the demo data: what `instacap eval` says of it.

The demo data set (640 posts, thumbnail features, as `instacap demo` builds it) trains each
network for `--epochs` with its own learning rate and schedule; then `instacap eval --json` on
the run gives scene accuracy, image gain, distinct-2, the copy rate and bpc. One JSON line per
network, plus its training seconds.

    .venv/bin/python bench/model_demo.py [--epochs 30] [--nets lstm-small,lstm-base,...] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--nets", default="lstm-small,lstm-base,lstm-large,transformer-small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--image-input", default="add", help="the transformer's: add or prefix")
    args = parser.parse_args()
    os.environ.setdefault("INSTACAP_HOME", tempfile.mkdtemp(prefix="instacap-model-demo-"))

    from instacap import presets, showcase, training
    from instacap.config import TrainConfig

    data = showcase.prepare()
    for net in args.nets.split(","):
        arch, size = net.split("-")
        model = presets.model_config(size, arch)
        if arch == "transformer":
            model = replace(model, image_input=args.image_input)
        train = TrainConfig(epochs=args.epochs, seed=args.seed, threads=args.threads, device="cpu")
        t0 = time.perf_counter()
        result = training.fit(data, model, train, name=net, overwrite=True)
        seconds = time.perf_counter() - t0
        out = subprocess.run(
            [sys.executable, "-m", "instacap", "eval", "--run", net, "--json",
             "--threads", str(args.threads), "--seed", str(args.seed)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        m = json.loads(out)
        keep = ("bpc", "image_gain", "retrieval_at_1", "scene_accuracy", "distinct_2", "copied",
                "loops", "hashtags", "hashtags_data")  # fmt: skip
        print(json.dumps({"bench": "model_demo", "net": net, "seed": args.seed,
                          "image_input": model.image_input if arch == "transformer" else None,
                          "train_seconds": round(seconds, 1), "best_epoch": result.best_epoch,
                          **{k: m.get(k) for k in keep}}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
