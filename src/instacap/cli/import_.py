"""`instacap import`: bring posts you already downloaded into the posts store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from instacap.cli.app import app


@app.command("import")
def import_(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH",
            help="Folders written by instaloader or instalooter, or .csv/.jsonl tables.",
            show_default=False,
        ),
    ],
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            "-a",
            help="Account for posts whose metadata, folder name or table row does not name one.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON on stdout.")
    ] = False,
) -> None:
    """Import posts you already downloaded into your posts store.

    Reads instaloader folders (2024-05-01_12-00-00_UTC.jpg + .txt caption + .json.xz metadata; only the first photo of a carousel, video posts skipped), instalooter folders (<id>.jpg + <id>.json) and CSV/JSONL tables with an image path (relative to the table) and a caption per row, optionally account and timestamp columns.

    Photos are checked before they are stored; unusable posts are skipped and counted by reason. Importing again adds what is new and updates posts whose caption or account changed.

    Example: instacap import ~/instaloader/natgeo posts.csv --account mycaptions
    """
    from instacap import importers
    from instacap.cli import render
    from instacap.errors import InputError
    from instacap.posts import PostStore

    candidates = importers.scan(inputs, account)  # every bad path fails here, before any write
    with PostStore.open() as store, render.reporting(transient=True) as reporter:
        result = importers.run(store, candidates, account=account, reporter=reporter)
        total = store.count()
    if as_json:
        render.print_json({**result.to_json(), "posts_in_store": total})
    else:
        _print_import(result, total)
    for problem in result.problems[:10]:  # the first few are enough to act on; counts say the rest
        render.warn(problem)  # warn() escapes: file names may contain [brackets]
    if result.imported == 0 and result.already == 0 and result.updated == 0:
        reason = result.skipped.most_common(1)[0][0] if result.skipped else None
        hint = importers.HINTS.get(reason or "", "check the files listed above")
        raise InputError(
            f"Nothing was imported: all {len(candidates)} posts were skipped ({hint})."
        )


def _print_import(result: Any, total: int) -> None:
    from instacap.cli import render

    accounts = ", ".join(f"{a} {n}" for a, n in result.accounts.most_common(5))
    more = " …" if len(result.accounts) > 5 else ""
    line = f"Imported [bold]{result.imported}[/] new post{'s' if result.imported != 1 else ''}"
    if accounts:
        line += f" ({accounts}{more})"
    if result.updated:
        line += f"; updated {result.updated} whose caption or account changed"
    if result.already:
        line += f"; {result.already} already stored"
    render.out.print(line + f". Your store now holds {total} posts.")
    if result.skipped:
        reasons = ", ".join(f"{r} {n}" for r, n in result.skipped.most_common())
        render.out.print(f"Skipped {sum(result.skipped.values())}: {reasons}.")
