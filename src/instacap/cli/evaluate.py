"""`instacap eval`: measure a trained run (DESIGN.md §6, docs/quality.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from instacap.cli.app import app
from instacap.config import Device, EvalConfig

if TYPE_CHECKING:  # pragma: no cover
    from instacap.evaluation import Report

EVAL_PHOTOS = 12  # photos on the --html page at least (report.EVAL_PHOTOS; a test checks)

_HELP = (
    "Measure a trained run on validation photos it never saw.\n\n"
    "[bold]bpc[/]: bits per character of the real captions (lower is better). "
    "[bold]image gain[/]: bpc with a wrong photo minus bpc with the right one; above 0 means the "
    "model reads the photo. [bold]retrieval@1[/]: how often the true caption out-scores 99 others "
    "by how much likelier the photo makes it than other photos do (chance 1%). [bold]scene accuracy[/] (demo data only): "
    "its captions that name the photo's scene.\n\n"
    "On its own captions (the run's default decoding): distinct-2 (diversity), known words, "
    "verbatim copies of training captions, loops (a character, word or phrase repeated to the length "
    "cap), hashtag and mention rates beside the data's own, and the share that end on their own.\n\n"
    "[bold]fooling rate[/] (once people played `instacap quiz` on the run): the share of quiz "
    "rounds where they took its caption for the real one, all quizzes pooled (50% = they "
    "cannot tell).\n\n"
    "[bold]--html FILE[/] writes the same as one page to open in a browser or send to a phone: "
    "the training curves, these numbers, and validation photos with their real and generated "
    "captions coloured as here.\n\n"
    "Examples: instacap eval --samples 5 · instacap eval --run demo --html eval.html"
)


@app.command("eval", help=_HELP)
def eval_command(
    # Long because Typer reads every option from this signature: one typed, documented
    # parameter per option. The body itself is parse, call, render.
    run: Annotated[
        str | None, typer.Option("--run", help="Run to measure (default: the newest).")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Measure on this data set instead of the run's own. It must use the run's "
            "encoder; posts the run trained on are left out.",
        ),
    ] = None,
    n: Annotated[
        int, typer.Option("--n", min=1, help="Captions generated per validation photo.")
    ] = EvalConfig.n,
    samples: Annotated[
        int,
        typer.Option(
            "--samples", min=0, help="Also show K photos' real and generated captions side by side."
        ),
    ] = 0,
    seed: Annotated[
        int, typer.Option("--seed", help="Same seed, same numbers (shuffles and sampling).")
    ] = EvalConfig.seed,
    device: Annotated[
        Device, typer.Option("--device", help="auto (CUDA when present), cpu or cuda.")
    ] = Device.auto,
    threads: Annotated[
        int,
        typer.Option(
            "--threads",
            min=0,
            help="CPU threads (0 = all cores; 1 on a machine busy with other work).",
        ),
    ] = EvalConfig.threads,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the numbers as JSON on stdout (for scripts).")
    ] = False,
    html_out: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write one self-contained page (no internet needed, reads on a phone): "
            "training curves, the numbers, and a contact sheet of at least "
            f"{EVAL_PHOTOS} validation photos with real and generated captions.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    from dataclasses import replace

    from instacap import evaluation, runtime
    from instacap.cli import render

    if html_out is not None:
        from instacap.report import check_target

        check_target(html_out)  # before minutes of work, not after
    runtime.tune_allocator()
    where = str(runtime.pick_device(device.value))
    # The page shows more photos than the terminal's --samples; the terminal keeps its own count.
    shown = max(samples, EVAL_PHOTOS) if html_out is not None else samples
    with render.reporting(transient=True) as reporter:
        report = evaluation.evaluate(
            run,
            dataset=data,
            config=EvalConfig(n=n, seed=seed, threads=threads),
            samples=shown,
            device=where,
            reporter=reporter,
        )
    if html_out is not None:
        _write_html(report, html_out)
        report = replace(report, samples=report.samples[:samples])
    if json_out:
        render.print_json(report.to_json())
        return
    render.out.print(_table(report))
    if report.samples:
        render.out.print(_samples(report))


def _write_html(r: Report, path: Path) -> None:
    from instacap import runs
    from instacap.cli import render
    from instacap.report import eval_page, write

    written = write(path, eval_page(r, runs.run_dir(r.run)))
    render.info(f"Wrote {written}: open it in a browser (it needs no internet).")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, unit: str = "") -> str:
    return "–" if x is None or x != x else f"{x:.3f}{unit}"


def _table(r: Report) -> Any:
    from rich.table import Table

    table = Table(
        title=f"Run {r.run!r} on data set {r.dataset!r} ({r.encoder}): {r.photos} validation "
        f"photos, {r.captions_per_photo} captions each, seed {r.seed}",
        title_justify="left",
    )
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    table.add_column("compare with", justify="right", style="dim")
    table.add_column("what it tells")
    from instacap.report import metric_rows

    for row in metric_rows(r):
        table.add_row(*row)
    return table


def _samples(r: Report) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Validation photos: real caption and the run's own", title_justify="left")
    table.add_column("photo", style="dim", overflow="fold")
    table.add_column("real caption", overflow="fold")
    table.add_column("generated", overflow="fold")
    for s in r.samples:
        photo = f"{s.account}/{s.shortcode}" + (f"\n{s.scene}" if s.scene else "")
        generated = Text("\n").join(_caption(c) for c in s.generated)
        table.add_row(photo, _caption(s.original), generated)
    return table


def _caption(caption: Any) -> Any:
    """A caption (sampling.Caption, or the real caption's text) coloured by the shared renderer:
    hashtags, mentions and emoji coloured; characters the model was unsure of shaded."""
    from instacap.cli import render

    if isinstance(caption, str):
        return render.caption_text(caption)
    return render.caption_text(caption.tokens, caption.probs)
