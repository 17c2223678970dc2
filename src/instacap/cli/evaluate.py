"""`instacap eval`: measure a trained run (DESIGN.md §6, docs/quality.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from instacap.cli.app import app
from instacap.config import EvalConfig

if TYPE_CHECKING:  # pragma: no cover
    from instacap.evaluation import Report

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
    "Example: instacap eval --samples 5"
)


@app.command("eval", help=_HELP)
def eval_command(
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
        str, typer.Option("--device", help="auto (CUDA when present), cpu or cuda.")
    ] = "auto",
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
) -> None:
    from instacap import evaluation, render, runtime

    runtime.tune_allocator()
    where = str(runtime.pick_device(device))
    with render.reporting(transient=True) as reporter:
        report = evaluation.evaluate(
            run,
            dataset=data,
            config=EvalConfig(n=n, seed=seed, threads=threads),
            samples=samples,
            device=where,
            reporter=reporter,
        )
    if json_out:
        render.print_json(report.to_json())
        return
    render.out.print(_table(report))
    if report.samples:
        render.out.print(_samples(report))


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
    rows = [
        ("bpc", _num(r.bpc), "", "bits per character of the real captions; lower is better"),
        (
            "image gain",
            _num(r.image_gain, " bits"),
            "> 0",
            f"bpc with shuffled photos ({_num(r.bpc_shuffled)}) minus bpc with the right ones; "
            "0 = the photo is ignored",
        ),
        (
            "retrieval@1",
            _pct(r.retrieval_at_1),
            f"chance {_pct(r.retrieval_chance)}",
            f"true caption ranks first among up to {r.retrieval_candidates} by how much likelier "
            f"the photo makes it ({r.retrieval_photos} photos)",
        ),
    ]
    if r.scene_accuracy is not None:
        rows.append(
            (
                "scene accuracy",
                _pct(r.scene_accuracy),
                f"chance {_pct(r.scene_chance)}, real {_pct(r.scene_accuracy_data)}",
                "its captions that name the photo's scene",
            )
        )
    rows += [
        (
            "distinct-2",
            _num(r.distinct_2),
            f"real {_num(r.distinct_2_data)}",
            "unique word pairs / all word pairs in its captions (diversity)",
        ),
        ("known words", _pct(r.known_words), "", "its words that occur in the training captions"),
        ("copied", _pct(r.copied), "", "its captions identical to a training caption"),
        (
            "loops",
            _pct(r.degenerate),
            "",
            "its captions going round a character, word or phrase up to the length cap",
        ),
        ("hashtags", _pct(r.hashtags), f"real {_pct(r.hashtags_data)}", "captions with a #tag"),
        ("mentions", _pct(r.mentions), f"real {_pct(r.mentions_data)}", "captions with an @name"),
        ("ended", _pct(r.ended), "", "captions that stopped on their own before the length cap"),
    ]
    for row in rows:
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
    from rich.text import Text

    from instacap import render

    colour = getattr(render, "caption_text", None)
    if colour is None:  # an older render module: plain text
        return Text(caption if isinstance(caption, str) else caption.text)
    if isinstance(caption, str):
        return colour(caption)
    return colour(caption.tokens, caption.probs)
