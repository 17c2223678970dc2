"""`instacap quiz`: a blind "real or generated?" game on a run's validation photos (docs/quality.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from instacap.cli.app import EXIT_INTERRUPTED, app

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from instacap.quiz import Quiz, Result, Round, Summary

_ROUNDS = 20  # instacap.quiz.ROUNDS (not imported here: --help stays light)
PREVIEW_WIDTH = 32  # terminal columns of the photo preview; two pixels per character cell

_HELP = (
    "Real or generated? A blind test of a run by people.\n\n"
    "Each round shows a validation photo the run never trained on with two captions in random "
    "order: its real one and one the run wrote. Press [bold]1[/] or [bold]2[/] for the one a "
    "person wrote, [bold]s[/] to skip, [bold]q[/] to stop. At the end you see the "
    "[bold]fooling rate[/]: the share of rounds where you took the run's caption for the real "
    "one (50% = people cannot tell them apart), with a 95% interval. Every round is added to "
    "runs/NAME/quiz.jsonl, so quizzes by several people add up; `instacap eval` shows the pooled "
    "rate.\n\n"
    "Example: instacap quiz --rounds 20 --html quiz.html"
)


@app.command("quiz", help=_HELP)
def quiz_command(
    # Long because Typer reads every option from this signature (one typed, documented
    # parameter per option), and the body runs the keyboard loop of an interactive game.
    run: Annotated[
        str | None, typer.Option("--run", "-r", help="Run to test (default: the newest).")
    ] = None,
    rounds: Annotated[
        int, typer.Option("--rounds", min=1, help="Photos to show (fewer when the run has fewer).")
    ] = _ROUNDS,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            min=0,
            help="Same seed, same photos, captions and order (default: new each time).",
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            dir_okay=False,
            help="Also write the rounds as a page of photos (to see them large); the answers are "
            "added to it when the quiz ends.",
        ),
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the results as JSON on stdout at the end (the rounds go to stderr).",
        ),
    ] = False,
) -> None:
    from instacap import quiz
    from instacap.cli import render
    from instacap.errors import InputError

    if not sys.stdin.isatty():
        raise InputError(
            "instacap quiz reads your answers as key presses and needs an interactive terminal; "
            "run it in one (scripts can read the pooled fooling rate with `instacap eval --json`)."
        )
    if html is not None:
        from instacap.report import check_target

        check_target(html)  # a bad path is said before the quiz, not after it
    with render.reporting(transient=True) as reporter:
        dealt = quiz.prepare(run, rounds=rounds, seed=seed, reporter=reporter)
    # The rounds go where the player sees them: stderr when stdout is JSON, a file or a pipe.
    con = render.out if render.out.is_terminal and not json_out else render.err
    if len(dealt.rounds) < rounds:
        render.warn(
            f"Run {dealt.run!r} has {len(dealt.rounds)} validation photos to quiz on; "
            f"playing {len(dealt.rounds)} rounds."
        )
    if html is not None:
        quiz.write_page(html, dealt)
        render.info(f"Photos of this quiz: {html}")
    con.print(
        f"[bold]Run {dealt.run}[/], seed {dealt.seed}: which caption did a person write? "
        "Press [bold]1[/] or [bold]2[/], [bold]s[/] to skip, [bold]q[/] to stop."
    )
    shown: list[int] = [0]  # the round on screen, for a Ctrl-C message

    def ask(rnd: Round) -> int | str | None:
        shown[0] = rnd.number
        return _ask(con, dealt, rnd)

    try:
        results = quiz.play(dealt, ask)
    except KeyboardInterrupt:
        con.print()
        k = shown[0]
        kept = (
            "nothing was recorded"
            if k <= 1
            else f"round{'s 1–' if k > 2 else ' '}{k - 1} {'are' if k > 2 else 'is'} recorded in "
            f"{quiz.quiz_file(dealt.path)}"
        )
        render.warn(f"Stopped in round {k}; {kept}. Next time q stops and shows the fooling rate.")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    summary = quiz.summarize(results)
    pooled = quiz.pooled(dealt.path, dealt.model)
    if html is not None:
        quiz.write_page(html, dealt, results)
    if json_out:
        render.print_json(
            {
                "run": dealt.run,
                "seed": dealt.seed,
                "summary": summary.to_json(),
                "pooled": pooled.to_json() if pooled is not None else None,
                "rounds": [r.to_json() for r in results],
            }
        )
        return
    _report(render.out, dealt, results, summary, pooled)


def _ask(con: Console, dealt: Quiz, rnd: Round) -> int | str | None:
    """Show one round and wait for 1, 2, s or q (other keys are ignored)."""
    from rich.text import Text

    from instacap.cli import render

    con.print(Text(f"\nRound {rnd.number} of {len(dealt.rounds)}", style="bold"))
    preview = _preview(rnd.image, con)
    if preview is not None:
        con.print(preview)
    con.print(Text(rnd.image, style="dim"), soft_wrap=True)
    for k, text in enumerate(rnd.captions, 1):
        # Both captions plain-coloured alike: shading the model's doubt would give it away.
        con.print(Text().append(f" {k}  ", style="bold").append_text(render.caption_text(text)))
    con.print(Text("Which did a person write? [1/2, s skip, q stop] ", style="bold"), end="")
    while True:
        try:
            key = typer.getchar()
        except EOFError:  # Ctrl-D: stop like q
            key = "q"
        key = key.lower()
        if key in ("1", "2"):
            con.print(key)
            return int(key)
        if key == "s":
            con.print("skipped")
            return None
        if key == "q":
            con.print("stop")
            return "stop"


def _preview(image: str, con: Console, width: int = PREVIEW_WIDTH) -> Any:
    """The photo in `width` columns of "▀" (upper half block): each character cell shows two
    pixels, the upper as the text colour and the lower as the background. None when the
    terminal shows no colour (NO_COLOR, a dumb terminal, a pipe) or the photo cannot be read."""
    if con.color_system is None or con.no_color:
        return None
    import numpy as np
    from PIL import Image
    from rich.color import Color
    from rich.style import Style
    from rich.text import Text

    from instacap import images
    from instacap.errors import BadImage

    try:
        img = images.open_rgb(Path(image), draft=(2 * width, 2 * width))
    except BadImage:
        return None
    img.thumbnail((width, width), Image.Resampling.LANCZOS)
    px = np.asarray(img)  # [h, w, 3] uint8
    h, w = px.shape[:2]
    text = Text()
    for y in range(0, h, 2):
        for x in range(w):
            top, bottom = px[y, x], px[min(y + 1, h - 1), x]
            text.append(
                "▀",
                Style(
                    color=Color.from_rgb(*(int(v) for v in top)),
                    bgcolor=Color.from_rgb(*(int(v) for v in bottom)),
                ),
            )
        if y + 2 < h:
            text.append("\n")
    return text


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def _rate(s: Summary) -> str:
    return (
        f"{_pct(s.rate)} of {s.answered} answered round{'s' if s.answered != 1 else ''} "
        f"(95% interval {_pct(s.low)}–{_pct(s.high)})"
    )


def _report(
    con: Console, dealt: Quiz, results: list[Result], summary: Summary, pooled: Summary | None
) -> None:
    from rich.text import Text

    from instacap.cli import render

    con.print()
    if summary.rate is None:
        con.print("No round answered, so no fooling rate this time.")
    else:
        con.print(
            f"[bold]Fooling rate: {_rate(summary)}[/]. You took the run's caption for the real "
            "one that often; 50% means people cannot tell its captions from real ones."
        )
    if summary.skipped:
        con.print(f"Skipped: {summary.skipped}.")
    fooled = [r for r in results if r.fooled]
    if fooled:
        con.print("\n[bold]The run's captions that fooled you[/] (and the real one beside it):")
        for r in fooled:
            con.print(Text(f"{r.account}/{r.shortcode}", style="dim"))
            con.print(Text("  generated: ").append_text(render.caption_text(r.generated)))
            con.print(Text("  real:      ").append_text(render.caption_text(r.real)))
    if pooled is not None and pooled.rate is not None and pooled.rounds > summary.rounds:
        con.print(f"\nAll quizzes on run {dealt.run!r} so far: {_rate(pooled)}.")
    if results:
        con.print(Text(f"Recorded in {dealt.path / 'quiz.jsonl'}", style="dim"))
