"""`instacap train`, `instacap caption` and `instacap demo`: fit a model, write captions, try it all."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from instacap.cli.app import EXIT_INTERRUPTED, app
from instacap.config import PRESETS, SampleConfig, TrainConfig

_T = TrainConfig()
_S = SampleConfig()
DEMO_POSTS = 640
DEMO_EPOCHS = 30
DEMO_SHOW = 4  # held-out photos shown at the end of the demo


@app.command()
def train(
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
        str,
        typer.Option(
            "--preset",
            help="default: normalised branches, image fed at every step, length buckets. "
            "original: the student project's network and recipe (batch 10, padded to 150).",
        ),
    ] = "default",
    epochs: Annotated[
        int, typer.Option("--epochs", "-e", help="Passes over the training set.")
    ] = _T.epochs,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", help=f"Captions per step [default: {_T.batch_size}; original: 10]."
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option("--lr", help=f"AdamW learning rate [default: {_T.lr}; original: 0.001]."),
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
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = _T.device,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the epoch metrics as JSON.")
    ] = False,
) -> None:
    """Train a caption model on a prepared data set; the best epoch is kept as the run's model.

    Each epoch shows loss, bits per character (bpc, lower is better) and captions/s, then one coloured sample caption for a fixed validation photo. Ctrl-C saves where it stopped: `instacap train --resume` continues exactly.

    Examples: instacap train --epochs 30 · instacap train --data demo --name mine · instacap train --resume
    """
    from instacap import dataset, render
    from instacap.config import ORIGINAL_MODEL, ORIGINAL_TRAIN, ModelConfig
    from instacap.errors import InputError

    if preset not in PRESETS:
        raise InputError(f"Unknown preset {preset!r}; use {' or '.join(PRESETS)}.")
    _check_numbers(epochs, batch_size, lr, patience)
    model_cfg, train_cfg = (
        (ORIGINAL_MODEL, ORIGINAL_TRAIN) if preset == "original" else (ModelConfig(), _T)
    )
    train_cfg = replace(
        train_cfg,
        epochs=epochs,
        patience=patience,
        seed=seed,
        device=device,
        batch_size=batch_size or train_cfg.batch_size,
        lr=lr or train_cfg.lr,
    )
    ds = dataset.load(data)
    result = _fit(ds, model_cfg, train_cfg, name, resume, overwrite, preset, as_json)
    if as_json:
        render.print_json(_result_json(result))
    else:
        render.info(
            f"Run [bold]{result.name}[/] saved: best epoch {result.best_epoch}, validation bpc "
            f"{result.best_val_bpc:.3f}. Next: instacap caption photo.jpg --run {result.name}"
        )


def _check_numbers(epochs: int, batch_size: int | None, lr: float | None, patience: int) -> None:
    """One sentence naming the first out-of-range option (a negative patience would stop training
    after the first epoch)."""
    from instacap.errors import InputError

    if epochs < 1:
        raise InputError(f"--epochs must be at least 1, not {epochs}.")
    if batch_size is not None and batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, not {batch_size}.")
    if lr is not None and lr <= 0:
        raise InputError(f"--lr must be above 0, not {lr}.")
    if patience < 0:
        raise InputError(f"--patience must be 0 (never stop early) or more, not {patience}.")


def _fit(ds: Any, model_cfg: Any, train_cfg: Any, name: str | None, resume: bool,
         overwrite: bool, preset: str, quiet: bool) -> Any:  # fmt: skip
    """training.fit with Rich progress and a coloured sample after each epoch."""
    from instacap import render, training

    def on_epoch(r: Any) -> None:
        if quiet:
            return
        flag = " [green]best[/]" if r.best else ""
        render.err.print(
            f"epoch {r.epoch}/{r.epochs}: loss {r.train_loss:.3f}  val bpc {r.val_bpc:.3f}  "
            f"{r.captions_per_s:.0f} captions/s{flag}"
        )
        if r.sample is not None:
            render.err.print(render.caption_text(r.sample.tokens, r.sample.probs), "  ")

    with render.reporting(transient=True) as reporter:
        try:
            return training.fit(
                ds, model_cfg, train_cfg, name=name, resume=resume, overwrite=overwrite,
                preset=preset, reporter=reporter, on_epoch=on_epoch,
            )  # fmt: skip
        except training.Interrupted as stop:
            name = stop.name
    render.warn(
        f"Interrupted: progress is saved; `instacap train --name {name} --resume` continues."
    )
    raise typer.Exit(EXIT_INTERRUPTED)


def _result_json(result: Any) -> dict[str, Any]:
    return {
        "run": result.name,
        "path": str(result.path),
        "best_epoch": result.best_epoch,
        "best_val_bpc": round(result.best_val_bpc, 5),
        "stopped_early": result.stopped_early,
        "epochs": result.history,
    }


@app.command()
def caption(
    photos: Annotated[
        list[Path],
        typer.Argument(help="Photos to caption (JPEG, PNG, WebP, ...).", show_default=False),
    ],
    n: Annotated[int, typer.Option("--n", "-n", help="Captions per photo.")] = _S.n,
    temperature: Annotated[
        float,
        typer.Option(
            "--temperature",
            "-t",
            help="Randomness: lower is safer and plainer, 0 = always the likeliest character.",
        ),
    ] = _S.temperature,
    top_k: Annotated[
        int, typer.Option("--top-k", help="Sample only among the k likeliest characters (0 = off).")
    ] = _S.top_k,
    top_p: Annotated[
        float,
        typer.Option(
            "--top-p",
            help="Nucleus: sample among the likeliest characters covering this probability, in (0, 1].",
        ),
    ] = _S.top_p,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Same seed, same captions (default: different each time)."),
    ] = None,
    run: Annotated[
        str | None, typer.Option("--run", "-r", help="Run to use (default: the newest).")
    ] = None,
    max_len: Annotated[
        int, typer.Option("--max-len", help="Longest caption in characters, plus 2.")
    ] = _S.max_len,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Captions with their mean log-probability per character, as JSON."
        ),
    ] = False,
) -> None:
    """Write captions for photos with a trained run, best (likeliest) first, coloured.

    Hashtags, mentions, emoji and URLs get their own colours; characters the model was unsure of are shaded. Defaults (temperature 0.7, top-p 0.9) favour captions that stay on the photo; raise --temperature for wilder ones.

    Examples: instacap caption photo.jpg · instacap caption *.jpg --n 3 --seed 1 --json
    """
    from rich.text import Text

    from instacap import render, runtime
    from instacap.sampling import Captioner, sample_config

    config = sample_config(
        n=n, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, max_len=max_len
    )
    runtime.tune_allocator()  # helps the CNN encoders; costs nothing
    captioner = Captioner.load(run)
    if captioner.backend == "torch":  # a run from before model.npz
        import torch

        torch.set_num_threads(1)  # one small LSTM step at a time: extra threads only spin
    results = captioner.caption_many(photos, **_overrides(config))
    if as_json:
        render.print_json(
            {
                "run": captioner.run.name,
                "photos": [
                    {"photo": str(p), "captions": [c.to_json() for c in caps]}
                    for p, caps in zip(photos, results, strict=True)
                ],
            }
        )
        return
    for photo, caps in zip(photos, results, strict=True):
        if len(photos) > 1:
            render.out.print(Text(str(photo), style="bold"))
        for i, cap in enumerate(caps, 1):
            render.out.print(render.caption_text(cap.tokens, cap.probs, index=i))
    render.err.print(render.caption_legend())


def _overrides(config: SampleConfig) -> dict[str, Any]:
    return {
        "n": config.n, "temperature": config.temperature, "top_k": config.top_k, "top_p": config.top_p,
        "seed": config.seed, "max_len": config.max_len, "max_repeat": config.max_repeat,
    }  # fmt: skip


@app.command()
def demo(
    posts: Annotated[
        int, typer.Option("--posts", help="Synthetic posts to generate.")
    ] = DEMO_POSTS,
    epochs: Annotated[int, typer.Option("--epochs", "-e", help="Training epochs.")] = DEMO_EPOCHS,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Try everything offline in about a minute and a half: synthetic posts → prep → train → caption.

    The demo posts (drawn photos, made-up captions from fictional accounts) live in their own store and never touch your own posts. The model is saved as the run `demo`.
    """
    import numpy as np
    from rich.text import Text

    from instacap import dataset, render
    from instacap import demo as demo_data
    from instacap.config import ModelConfig, PrepConfig
    from instacap.errors import InputError
    from instacap.sampling import generate

    if posts < 20 or epochs < 1:
        raise InputError("The demo needs --posts of at least 20 and --epochs of at least 1.")
    with render.reporting(transient=True) as reporter:
        demo_data.ensure(n=posts, reporter=reporter)
        # Few posts: keep every character the demo uses (min_count 5), no decoding processes.
        prep = PrepConfig(encoder="thumbnail", min_count=5, workers=0)
        ds = dataset.build(prep, demo=True, reporter=reporter)
    result = _fit(
        ds, ModelConfig(), replace(_T, epochs=epochs), "demo", False, True, "default", as_json
    )

    from instacap import checkpoint

    run = checkpoint.load("demo")
    show = _pick_shown(ds.val.scenes, DEMO_SHOW)
    feats = ds.val.features(np.array(show, dtype=np.int64))
    caps = generate(run.model, run.vocab, feats, replace(_S, n=2, seed=0))
    if as_json:
        render.print_json(
            {
                **_result_json(result),
                "examples": [
                    {
                        "photo": str(ds.val.images[i]),
                        "original": ds.val.captions[i],
                        "generated": [c.to_json() for c in cs],
                    }
                    for i, cs in zip(show, caps, strict=True)
                ],
            }
        )
        return
    render.out.print(f"\n[bold]Held-out demo photos[/] (validation bpc {result.best_val_bpc:.3f})")
    for i, cs in zip(show, caps, strict=True):
        render.out.print(
            Text(f"\n{ds.val.images[i].name}  ", style="bold").append(
                ds.val.scenes[i] or "", style="dim"
            )
        )
        render.out.print(
            render.caption_text(ds.val.captions[i]).append(" ").append("(original)", style="dim")
        )
        for c in cs:
            render.out.print(
                render.caption_text(c.tokens, c.probs)
                .append(" ")
                .append("(generated)", style="dim")
            )
    render.err.print(render.caption_legend())
    render.out.print(
        "\nCaption your own photo with the demo model:\n  instacap caption YOUR_PHOTO.jpg --run demo"
    )


def _pick_shown(scenes: list[str | None], k: int) -> list[int]:
    """Up to k validation rows with different scenes (the first of each), for a varied showcase."""
    seen: set[str | None] = set()
    picked = []
    for i, s in enumerate(scenes):
        if s not in seen:
            seen.add(s)
            picked.append(i)
        if len(picked) == k:
            break
    return picked
