"""`instacap demo`: synthetic posts, prep, train and captions for held-out photos, offline."""

from __future__ import annotations

from typing import Annotated

import typer

from instacap.cli.app import app

# The demo's defaults, without importing the library (showcase.POSTS and .EPOCHS; a test checks).
DEMO_POSTS = 640
DEMO_EPOCHS = 30


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
    from instacap.cli import fitting, render

    showcase.check(posts, epochs)
    with render.reporting(transient=True) as reporter:
        ds = showcase.prepare(posts, reporter)
    result = fitting.fit(
        as_json, lambda reporter, on_epoch: showcase.train(ds, epochs, reporter, on_epoch)
    )
    shown = showcase.examples(ds)
    page = fitting.write_report(result.name, ds)
    if as_json:
        render.print_json(
            {
                **fitting.result_json(result),
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
