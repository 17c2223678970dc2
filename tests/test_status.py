"""`instacap status`: what the cache holds, as tables and as JSON, empty or filled."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone

from typer.testing import CliRunner

from instacap import demo
from instacap.cli import app
from instacap.posts import NewPost, PostStore

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


def fill(home) -> None:
    """Own posts, demo posts, and stand-ins for features, a data set and a run as later steps write them."""
    with PostStore.open() as store:
        for i in range(3):
            store.add(
                NewPost(
                    f"N{i}", "natgeo", datetime(2024, 1, 1, tzinfo=timezone.utc), "hi", "table"
                ),
                b"x" * 100,
            )
        store.add(NewPost("A1", "nasa", None, "launch", "table"), b"y" * 100)
    with PostStore.open(demo=True) as store:
        demo.generate(store, n=10)
    feats = home / "features" / "thumbnail"
    feats.mkdir(parents=True)
    (feats / "matrix.f16").write_bytes(b"\0" * 2 * 48 * 7)
    (feats / "meta.json").write_text(json.dumps({"dim": 48, "encoder": "thumbnail"}))
    con = sqlite3.connect(feats / "index.db")
    con.execute("CREATE TABLE rows (hash TEXT PRIMARY KEY, row INTEGER NOT NULL UNIQUE)")
    con.executemany("INSERT INTO rows VALUES (?, ?)", [(f"h{i}", i) for i in range(7)])
    con.commit()
    con.close()
    ds = home / "datasets" / "demo"
    ds.mkdir(parents=True)
    (ds / "dataset.json").write_text(
        json.dumps(
            {"encoder": "thumbnail", "store": "demo", "train": 9, "val": 1, "vocab_size": 57}
        )
    )
    run = home / "runs" / "demo-1"
    run.mkdir(parents=True)
    (run / "meta.json").write_text(
        json.dumps(
            {
                "encoder": "thumbnail",
                "dataset": {"name": "demo"},
                "train_config": {"epochs": 30},
                "metrics": {"epochs_done": 4, "best_val_bpc": 2.3456},
            }
        )
    )
    (run / "model.pt").write_bytes(b"\0" * 1000)
    (home / "runs" / "broken").mkdir()  # a run without meta.json still shows up


def test_empty_cache_gives_a_hint_and_creates_nothing(instacap_home):
    r = runner.invoke(app, ["status"])
    assert r.exit_code == 0, r.output
    assert "The cache is empty" in flat(r.output)
    assert "instacap demo" in r.output and "instacap import" in r.output
    assert str(instacap_home) in flat(r.output)
    assert not instacap_home.exists()


def test_empty_cache_json(instacap_home):
    r = runner.invoke(app, ["status", "--json"])
    data = json.loads(r.stdout)
    assert data["cache"] == str(instacap_home)
    assert data["exists"] is False
    assert data["posts"]["total"] == 0 and data["demo"]["total"] == 0
    assert data["features"] == data["datasets"] == data["runs"] == []


def test_filled_cache_tables(instacap_home):
    fill(instacap_home)
    r = runner.invoke(app, ["status"])
    assert r.exit_code == 0, r.output
    out = r.output
    assert "natgeo" in out and "nasa" in out
    assert "demo (synthetic)" in out
    assert "thumbnail" in out and "57" in out and "2.346" in out
    assert "broken" in out


def test_filled_cache_json_schema(instacap_home):
    fill(instacap_home)
    data = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert set(data) == {
        "cache",
        "exists",
        "disk_bytes",
        "posts",
        "demo",
        "features",
        "datasets",
        "runs",
    }
    assert data["posts"]["accounts"] == {"natgeo": 3, "nasa": 1}
    assert data["posts"]["total"] == 4
    # Own and demo posts are counted apart.
    assert data["demo"]["total"] == 10
    assert all(a.startswith("demo") for a in data["demo"]["accounts"])
    assert data["features"] == [
        {
            "encoder": "thumbnail",
            "rows": 7,
            "dim": 48,
            "weights_sha256": None,  # thumbnail has no weights
            "disk_bytes": data["features"][0]["disk_bytes"],
        }
    ]
    assert data["features"][0]["disk_bytes"] >= 2 * 48 * 7
    (ds,) = data["datasets"]
    assert (ds["name"], ds["encoder"], ds["train"], ds["val"], ds["vocab_size"]) == (
        "demo",
        "thumbnail",
        9,
        1,
        57,
    )
    runs = {r["name"]: r for r in data["runs"]}
    assert runs["demo-1"]["epochs_done"] == 4 and runs["demo-1"]["epochs"] == 30
    assert runs["demo-1"]["best_val_bpc"] == 2.3456 and runs["demo-1"]["dataset"] == "demo"
    assert runs["broken"]["encoder"] is None
    parts = data["posts"]["disk_bytes"] + data["demo"]["disk_bytes"]
    assert data["disk_bytes"] >= parts > 0


def test_status_does_not_import_torch(instacap_home):
    code = (
        "import sys; from typer.testing import CliRunner; from instacap.cli import app;"
        "r = CliRunner().invoke(app, ['status', '--json']); assert r.exit_code == 0, r.output;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
