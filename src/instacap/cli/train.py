"""`instacap train`, `instacap caption` and `instacap demo`: fit a model, write captions, try it all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from instacap.cli.app import EXIT_INTERRUPTED, app
from instacap.config import PRESETS, SampleConfig, TrainConfig

_T = TrainConfig()
_S = SampleConfig()
# The demo's defaults, without importing the library (showcase.POSTS and .EPOCHS; a test checks).
DEMO_POSTS = 640
DEMO_EPOCHS = 30


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
) -> None:
    """Train a caption model on a prepared data set; the best epoch is kept as the run's model.

    Each epoch shows loss, bits per character (bpc, lower is better) and captions/s, then one coloured sample caption for a fixed validation photo. Ctrl-C saves where it stopped: `instacap train --resume` continues exactly. At the end, runs/<name>/report.html shows the curves and captioned validation photos in a browser.

    Examples: instacap train --epochs 30 · instacap train --data demo --name mine · instacap train --resume
    """
    from instacap import dataset, training
    from instacap.cli import render
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
        threads=threads,
        batch_size=batch_size or train_cfg.batch_size,
        lr=lr or train_cfg.lr,
    )
    ds = dataset.load(data)
    result = _fit(as_json, lambda reporter, on_epoch: training.fit(
        ds, model_cfg, train_cfg, name=name, resume=resume, overwrite=overwrite, preset=preset,
        reporter=reporter, on_epoch=on_epoch,
    ))  # fmt: skip
    page = _write_report(result.name, ds)
    if as_json:
        render.print_json({**_result_json(result), "report": str(page) if page else None})
    else:
        render.info(
            f"Run [bold]{result.name}[/] saved: best epoch {result.best_epoch}, validation bpc "
            f"{result.best_val_bpc:.3f}. Next: instacap caption photo.jpg --run {result.name}"
        )
        if page is not None:
            render.info(f"Curves and captioned validation photos: {page}")


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


def _fit(quiet: bool, fit: Callable[[Any, Callable[[Any], None]], Any]) -> Any:
    """Run `fit(reporter, on_epoch)` (training.fit) with Rich progress and a coloured sample after
    each epoch; Ctrl-C ends with how to resume."""
    from instacap import training
    from instacap.cli import render

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
            return fit(reporter, on_epoch)
        except training.Interrupted as stop:
            name = stop.name
    render.warn(
        f"Interrupted: progress is saved; `instacap train --name {name} --resume` continues."
    )
    raise typer.Exit(EXIT_INTERRUPTED)


def _write_report(name: str, data: Any) -> Path | None:
    """runs/<name>/report.html (curves, last validation, a few captioned validation photos).
    The run is already saved: a page that cannot be written is a warning, not a failure."""
    from instacap import report
    from instacap.cli import render
    from instacap.errors import InstacapError

    try:
        return report.write_training_report(name, data)
    except (OSError, InstacapError) as exc:
        render.warn(f"The run is saved, but its {report.REPORT_FILE} was not written: {exc}")
        return None


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
    html_out: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write a page with each photo beside its captions, coloured as here, to "
            "pick one while looking at the photo (one file, opens offline, reads on a phone).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Write captions for photos with a trained run, best (likeliest) first, coloured.

    Hashtags, mentions, emoji and URLs get their own colours; characters the model was unsure of are shaded. Defaults (temperature 0.7, top-p 0.9) favour captions that stay on the photo; raise --temperature for wilder ones. With several photos, --html FILE lays them out as a contact sheet.

    Examples: instacap caption photo.jpg · instacap caption *.jpg --n 3 --seed 1 --json · instacap caption *.jpg --html captions.html
    """
    from rich.text import Text

    from instacap import runtime
    from instacap.cli import render
    from instacap.sampling import Captioner, sample_config

    config = sample_config(
        n=n, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, max_len=max_len
    )
    if html_out is not None:
        from instacap.report import check_target

        check_target(html_out)
    runtime.tune_allocator()  # helps the CNN encoders; costs nothing
    captioner = Captioner.load(run)
    if captioner.backend == "torch":  # a run from before model.npz
        import torch

        torch.set_num_threads(1)  # one small LSTM step at a time: extra threads only spin
    results = captioner.caption_many(photos, **_overrides(config))
    if html_out is not None:
        from instacap import report

        page = report.captions_page(captioner.run.name, photos, results, _settings(config))
        render.info(f"Wrote {report.write(html_out, page)}: open it in a browser.")
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


def _settings(config: SampleConfig) -> str:
    """The decoding settings in a few words, for the --html page."""
    seed = "" if config.seed is None else f", seed {config.seed}"
    return f"temperature {config.temperature:g}, top-p {config.top_p:g}{seed}"


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
    """Try everything offline in under a minute: synthetic posts → prep → train → caption.

    The demo posts (drawn photos, made-up captions from fictional accounts) live in their own store and never touch your own posts. The model is saved as the run `demo`; its report.html shows the curves and captioned held-out photos in a browser.
    """
    from rich.text import Text

    from instacap import showcase
    from instacap.cli import render

    showcase.check(posts, epochs)
    with render.reporting(transient=True) as reporter:
        ds = showcase.prepare(posts, reporter)
    result = _fit(
        as_json, lambda reporter, on_epoch: showcase.train(ds, epochs, reporter, on_epoch)
    )
    shown = showcase.examples(ds)
    page = _write_report(result.name, ds)
    if as_json:
        render.print_json(
            {
                **_result_json(result),
                "report": str(page) if page else None,
                "examples": [
                    {
                        "photo": str(ex.photo),
                        "original": ex.original,
                        "generated": [c.to_json() for c in ex.generated],
                    }
                    for ex in shown
                ],
            }
        )
        return
    render.out.print(f"\n[bold]Held-out demo photos[/] (validation bpc {result.best_val_bpc:.3f})")
    for ex in shown:
        render.out.print(
            Text(f"\n{ex.photo.name}  ", style="bold").append(ex.scene or "", style="dim")
        )
        render.out.print(
            render.caption_text(ex.original).append(" ").append("(original)", style="dim")
        )
        for c in ex.generated:
            render.out.print(
                render.caption_text(c.tokens, c.probs)
                .append(" ")
                .append("(generated)", style="dim")
            )
    render.err.print(render.caption_legend())
    if page is not None:
        render.out.print(f"\nCurves and captioned photos in your browser: {page}")
    render.out.print(
        "\nCaption your own photo with the demo model:\n  instacap caption YOUR_PHOTO.jpg --run demo"
    )
