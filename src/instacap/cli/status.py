"""`instacap status`: what the cache holds."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from instacap.cli.app import app

if TYPE_CHECKING:
    from instacap.status import CacheStatus


@app.command()
def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
) -> None:
    """Show what the cache holds: posts per account, demo data, features, data sets, runs, disk use."""
    from instacap import status as library
    from instacap.cli import render

    summary = library.cache_status()
    if as_json:
        render.print_json(summary.to_json())
    else:
        _print_status(summary)


# -- rendering --------------------------------------------------------------------------------


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _show(column: str, value: Any) -> str:
    if column == "disk_bytes":
        return _size(value)
    if column == "weights_sha256":  # 12 hex digits name the file; --json has all 64
        return _cell(value)[:12]
    return _cell(value)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


# Accounts listed one per row in the table, most posts first; the others share one row (a store of
# a million posts may hold thousands: 5,000 rows took 1.6 s to print and nobody reads them).
_ACCOUNT_ROWS = 20


def _print_status(s: CacheStatus) -> None:
    from rich.table import Table

    from instacap.cli import render

    out = render.out
    out.print(f"Cache: [bold]{s.cache}[/]  ({_size(s.disk_bytes)} in all)")
    nothing = not (s.posts.total or s.demo.total or s.features or s.datasets)
    if nothing and not s.runs:
        out.print(
            "The cache is empty. Try [bold]instacap demo[/] (offline, synthetic data), or bring "
            "posts in with [bold]instacap import PATH[/] or [bold]instacap scrape ACCOUNT[/]."
        )
        return

    posts = Table(title="Posts", title_justify="left")
    posts.add_column("store")
    posts.add_column("account")
    posts.add_column("posts", justify="right")
    posts.add_column("disk", justify="right")
    for label, store in (("yours", s.posts), ("demo (synthetic)", s.demo)):
        if not store.total:
            posts.add_row(label, "-", "0", _size(store.disk_bytes))
            continue
        shown = list(store.accounts.items())[:_ACCOUNT_ROWS]  # most posts first
        for i, (account, n) in enumerate(shown):
            posts.add_row(label if i == 0 else "", account, str(n), "")
        if len(store.accounts) > len(shown):  # the rest in one row: --json lists them all
            rest = len(store.accounts) - len(shown)
            left = store.total - sum(n for _, n in shown)
            posts.add_row("", f"[dim]{rest} more accounts[/]", f"[dim]{left}[/]", "")
        posts.add_row("", "[bold]total[/]", f"[bold]{store.total}[/]", _size(store.disk_bytes))
    out.print(posts)

    incomplete = [r for r in s.runs if r.state == "incomplete"]
    sections = (
        ("Features", [asdict(f) for f in s.features], ("encoder", "weights_sha256", "rows", "dim", "disk_bytes")),
        ("Data sets", [asdict(d) for d in s.datasets], ("name", "encoder", "weights_sha256", "store", "train", "val", "vocab_size", "disk_bytes")),
        ("Runs", [asdict(r) for r in s.runs if r.state != "incomplete"], ("name", "encoder", "dataset", "epochs_done", "epochs", "best_val_bpc", "disk_bytes")),
    )  # fmt: skip
    for title, items, columns in sections:
        if not items:
            out.print(f"[dim]{title}: none yet.[/]")
            continue
        table = Table(title=title, title_justify="left")
        for col in columns:
            table.add_column(
                {"disk_bytes": "disk", "weights_sha256": "weights"}.get(col, col.replace("_", " ")),
                justify="left" if col in ("name", "encoder", "dataset", "store") else "right",
            )
        for item in items:
            table.add_row(*(_show(c, item[c]) for c in columns))
        out.print(table)
    for run in incomplete:
        out.print(
            f"Incomplete run [bold]{run.name}[/]: stopped before its first epoch ended, so it "
            f"has no model yet; {run.retrain} trains it.",
            highlight=False,
        )
