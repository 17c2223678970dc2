"""`instacap status`: what the cache holds."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Annotated, Any

import typer

from instacap.cli.app import app


@app.command()
def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
) -> None:
    """Show what the cache holds: posts per account, demo data, features, data sets, runs, disk use."""
    from instacap.cli import render

    summary = cache_summary()
    if as_json:
        render.print_json(summary)
    else:
        _print_status(summary)


# -- gathering (reads only; never creates anything in the cache) -------------------------------


def cache_summary() -> dict[str, Any]:
    """Everything `status` shows, as plain data (the `--json` schema)."""
    from instacap import paths

    home = paths.home()
    summary: dict[str, Any] = {"cache": str(home), "exists": home.is_dir(), "disk_bytes": 0}
    summary["posts"] = _store_summary(paths.posts_root(demo=False))
    summary["demo"] = _store_summary(paths.posts_root(demo=True))
    summary["features"] = [_feature_summary(d) for d in _subdirs(paths.features_dir())]
    summary["datasets"] = [_dataset_summary(d) for d in _subdirs(paths.datasets_dir())]
    summary["runs"] = [_run_summary(d) for d in _subdirs(paths.runs_dir())]
    # Last: reading a WAL database may add its -shm/-wal files, which belong in the total.
    summary["disk_bytes"] = _du(home)
    return summary


def _subdirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def _du(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            # A file may vanish meanwhile (another process): not worth failing a summary.
            with contextlib.suppress(OSError):
                total += (Path(dirpath) / name).stat().st_size
    return total


def _query(db: Path, sql: str) -> list[tuple[Any, ...]] | None:
    """Rows of a read-only query, or None when the database is missing or unreadable."""
    if not db.is_file():
        return None
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return None


def _store_summary(root: Path) -> dict[str, Any]:
    rows = _query(
        root / "posts.db",
        "SELECT account, COUNT(*) FROM posts GROUP BY account ORDER BY COUNT(*) DESC, account",
    )
    accounts = {a: n for a, n in rows or []}
    db_bytes = sum(p.stat().st_size for p in root.glob("posts.db*") if p.is_file())
    return {
        "path": str(root),
        "total": sum(accounts.values()),
        "accounts": accounts,
        "disk_bytes": db_bytes + _du(root / "posts"),
        "readable": rows is not None or not (root / "posts.db").exists(),
    }


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _feature_summary(folder: Path) -> dict[str, Any]:
    meta = _read_json(folder / "meta.json")
    rows: int | None = None
    counted = _query(folder / "index.db", "SELECT COUNT(*) FROM rows")
    if counted:
        rows = int(counted[0][0])
    elif isinstance(meta.get("rows"), int):
        rows = meta["rows"]
    return {
        "encoder": folder.name,
        "rows": rows,
        "dim": meta.get("dim"),
        "weights_sha256": meta.get("weights_sha256"),
        "disk_bytes": _du(folder),
    }


def _dataset_summary(folder: Path) -> dict[str, Any]:
    info = _read_json(folder / "dataset.json")
    return {
        "name": folder.name,
        "encoder": info.get("encoder"),
        "weights_sha256": info.get("weights_sha256"),
        "store": info.get("store"),
        "train": info.get("train"),
        "val": info.get("val"),
        "vocab_size": info.get("vocab_size"),
        "built_at": info.get("built_at"),
        "disk_bytes": _du(folder),
    }


def _run_summary(folder: Path) -> dict[str, Any]:
    from instacap import runs

    meta = _read_json(folder / "meta.json")
    metrics = _dict(meta.get("metrics"))
    dataset = meta.get("dataset")
    train_config = _dict(meta.get("train_config"))
    return {
        "name": folder.name,
        # "incomplete": stopped before its first epoch ended, no model to caption with yet.
        "state": "trained" if runs.is_trained(folder) else "incomplete",
        "retrain": None if runs.is_trained(folder) else runs.retrain_hint(folder.name, meta),
        "encoder": meta.get("encoder"),
        "dataset": dataset.get("name") if isinstance(dataset, dict) else dataset,
        "epochs_done": metrics.get("epochs_done"),
        "epochs": train_config.get("epochs"),
        "best_val_bpc": metrics.get("best_val_bpc"),
        "created": meta.get("created"),
        "disk_bytes": _du(folder),
    }


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


def _print_status(s: dict[str, Any]) -> None:
    from rich.table import Table

    from instacap.cli import render

    out = render.out
    out.print(f"Cache: [bold]{s['cache']}[/]  ({_size(s['disk_bytes'])} in all)")
    nothing = not (s["posts"]["total"] or s["demo"]["total"] or s["features"] or s["datasets"])
    if nothing and not s["runs"]:
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
    for label, store in (("yours", s["posts"]), ("demo (synthetic)", s["demo"])):
        if not store["total"]:
            posts.add_row(label, "-", "0", _size(store["disk_bytes"]))
            continue
        for i, (account, n) in enumerate(store["accounts"].items()):
            posts.add_row(label if i == 0 else "", account, str(n), "")
        posts.add_row(
            "", "[bold]total[/]", f"[bold]{store['total']}[/]", _size(store["disk_bytes"])
        )
    out.print(posts)

    sections = (
        ("Features", s["features"], ("encoder", "weights_sha256", "rows", "dim", "disk_bytes")),
        ("Data sets", s["datasets"], ("name", "encoder", "weights_sha256", "store", "train", "val", "vocab_size", "disk_bytes")),
        ("Runs", s["runs"], ("name", "encoder", "dataset", "epochs_done", "epochs", "best_val_bpc", "disk_bytes")),
    )  # fmt: skip
    incomplete = [r for r in s["runs"] if r.get("state") == "incomplete"]
    sections = (
        *sections[:2],
        ("Runs", [r for r in s["runs"] if r not in incomplete], sections[2][2]),
    )
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
            f"Incomplete run [bold]{run['name']}[/]: stopped before its first epoch ended, so it "
            f"has no model yet; {run['retrain']} trains it.",
            highlight=False,
        )
