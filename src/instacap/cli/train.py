"""`instacap train`: fit a model on a prepared data set."""

from __future__ import annotations

from typing import Annotated

import typer

from instacap import network, presets
from instacap.cli.app import app
from instacap.config import Arch, Device, Preset, Size, TrainConfig

_T = TrainConfig()


def _ladder() -> str:
    """'LSTM small 0.17M, base 0.50M, ...' for --help, counted from the parameter table."""
    parts = []
    for arch in presets.ARCH_NAMES:
        rungs = ", ".join(
            f"{size} {network.count(presets.model_config(size, arch), 100, 0) / 1e6:.2f}M"
            for size in presets.SIZE_NAMES
        )
        parts.append(f"{'LSTM' if arch == 'lstm' else arch} {rungs}")
    return "; ".join(parts)


@app.command()
def train(
    # Long because Typer reads every option from this signature: one typed, documented
    # parameter per option. The body itself is parse, call, render.
    ctx: typer.Context,
    data: Annotated[
        str, typer.Option("--data", "-d", help="Data set to train on (made by `instacap prep`).")
    ] = "default",
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Run name (folder under runs/); default <data set>-<date>-<time>."
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue the run --name (default: the newest) from last.pt."
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing run of the same name.")
    ] = False,
    preset: Annotated[
        Preset,
        typer.Option(
            "--preset",
            help="default: normalised branches, image fed at every step, length buckets. "
            "original: the student project's network and recipe (batch 10, padded to 150).",
        ),
    ] = Preset.default,
    size: Annotated[
        Size | None,
        typer.Option(
            "--size",
            help="Network size \\[default: auto, picked from the training set's size: small below "
            f"{presets.AUTO_BASE_TOKENS:,} characters, base below {presets.AUTO_LARGE_TOKENS:,}, "
            f"large above]. Parameters (text only, 100 characters): {_ladder()} (docs/model.md).",
            show_default=False,
        ),
    ] = None,
    arch: Annotated[
        Arch | None,
        typer.Option(
            "--arch",
            help="lstm [default]: a character LSTM fed the photo at every step. transformer: a "
            "causal transformer (docs/model.md compares them). A run keeps its network: "
            "--resume takes no other.",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[
        int, typer.Option("--epochs", "-e", help="Passes over the training set.")
    ] = _T.epochs,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", help=f"Captions per step \\[default: {_T.batch_size}; original: 10]."
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            "--lr",
            help="Peak AdamW learning rate \\[default: the size's own, 0.005 for the small LSTM; "
            "original: 0.001]. It warms up, then decays along a cosine to a tenth.",
        ),
    ] = None,
    patience: Annotated[
        int,
        typer.Option(
            "--patience",
            help="Stop after this many epochs without a better validation loss (0 = never).",
        ),
    ] = _T.patience,
    seed: Annotated[
        int, typer.Option("--seed", help="Same seed, same data: same model.")
    ] = _T.seed,
    device: Annotated[
        Device, typer.Option("--device", help="auto (CUDA when present), cpu or cuda.")
    ] = Device(_T.device),
    threads: Annotated[
        int,
        typer.Option(
            "--threads",
            min=0,
            help="CPU threads (0 = all cores). On a machine busy with other work, 1 can be "
            "several times faster: threads waiting for a busy core stall the others.",
        ),
    ] = _T.threads,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the epoch metrics as JSON.")
    ] = False,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            min=1,
            help="Worker processes on this machine (torchrun; one per GPU on CUDA). Each takes "
            "its share of every batch: same batch size, learning rate and result (docs/scale.md).",
        ),
    ] = 1,
) -> None:
    """Train a caption model on a prepared data set; the best epoch is kept as the run's model.

    Each epoch shows loss, bits per character (bpc, lower is better) and captions/s, then one coloured sample caption for a fixed validation photo. Ctrl-C saves where it stopped: `instacap train --resume` continues exactly. At the end, runs/<name>/report.html shows the curves and captioned validation photos in a browser.

    Examples: instacap train --epochs 30 · instacap train --data demo --name mine · instacap train --resume
    """
    from instacap import dataset, presets, training
    from instacap.cli import fitting, render, workers

    group = workers.join(device.value)  # under torchrun; a group of one otherwise
    threads = threads or (workers.threads() if group.world > 1 else 0)
    model_cfg, train_cfg = presets.train_settings(
        preset.value, size=size.value if size else None, arch=arch.value if arch else None,
        epochs=epochs, batch_size=batch_size, lr=lr, patience=patience, seed=seed,
        device=device.value, threads=threads,
    )  # fmt: skip
    ds = dataset.load(data)  # bad options and a missing data set fail here, before any worker
    if nproc > 1 and not workers.in_worker():
        workers.launch(ctx, nproc)  # runs this command again as nproc workers, then exits
    result = fitting.fit(as_json, lambda reporter, on_epoch: training.fit(
        ds, model_cfg, train_cfg, name=name, resume=resume, overwrite=overwrite, preset=preset.value,
        reporter=reporter, on_epoch=on_epoch,
    ))  # fmt: skip
    if not group.main:
        return  # rank 0 writes the page and says what was done
    page = fitting.write_report(result.name, ds)
    if as_json:
        render.print_json({**fitting.result_json(result), "report": str(page) if page else None})
    else:
        render.info(
            f"Run [bold]{result.name}[/] saved: best epoch {result.best_epoch}, validation bpc "
            f"{result.best_val_bpc:.3f}. Next: instacap caption photo.jpg --run {result.name}"
        )
        if page is not None:
            render.info(f"Curves and captioned validation photos: {page}")
