"""`instacap status`: what the cache holds, as tables and as JSON, empty or filled."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone

from typer.testing import CliRunner

from instacap import demo, posts
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
                "format": 1,
                "name": "demo-1",
                "encoder": "thumbnail",
                "feature_dim": 48,
                "model_config": {"hidden": 32},
                "vocab": {"tokens": ["<pad>", "<bos>", "<eos>", "<unk>", "a"]},
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


def test_photo_sizes_come_from_the_database_and_old_rows_are_measured(instacap_home):
    with PostStore.open() as store:
        store.add(NewPost("S1", "natgeo", None, "one", "table"), b"x" * 1000)
        store.add(NewPost("S2", "natgeo", None, "two", "table"), b"y" * 3000)
    before = json.loads(runner.invoke(app, ["status", "--json"]).stdout)["posts"]
    # A row written before the store recorded sizes: its photo is measured on disk instead.
    con = sqlite3.connect(instacap_home / "posts.db")
    con.execute("UPDATE posts SET image_bytes=NULL WHERE shortcode='S2'")
    con.commit()
    con.close()
    after = json.loads(runner.invoke(app, ["status", "--json"]).stdout)["posts"]
    assert after["disk_bytes"] == before["disk_bytes"] >= 4000
    assert posts.summarize(instacap_home).photo_bytes == 4000


def test_a_store_from_before_image_bytes_gets_the_column_and_keeps_its_posts(instacap_home):
    instacap_home.mkdir(parents=True)
    (instacap_home / "posts" / "nasa").mkdir(parents=True)
    (instacap_home / "posts" / "nasa" / "OLD.jpg").write_bytes(b"z" * 500)
    con = sqlite3.connect(instacap_home / "posts.db")
    con.execute(
        "CREATE TABLE posts (shortcode TEXT PRIMARY KEY, account TEXT NOT NULL, taken_at TEXT, "
        "caption TEXT NOT NULL, image TEXT NOT NULL, source TEXT NOT NULL, likes INTEGER, "
        "scene TEXT, added_at TEXT NOT NULL)"
    )
    con.execute(
        "INSERT INTO posts VALUES ('OLD','nasa',NULL,'old','posts/nasa/OLD.jpg','table',NULL,NULL,'x')"
    )
    con.commit()
    con.close()
    data = json.loads(runner.invoke(app, ["status", "--json"]).stdout)["posts"]
    assert data["accounts"] == {"nasa": 1}
    assert data["disk_bytes"] >= 500
    with PostStore.open() as store:  # opening for writing adds the column
        store.add(NewPost("NEW", "nasa", None, "new", "table"), b"w" * 200)
        assert store.accounts() == {"nasa": 2}
    assert posts.summarize(instacap_home).photo_bytes == 700


def test_many_accounts_share_one_row_in_the_table_and_all_are_in_json(instacap_home, monkeypatch):
    from instacap.cli import status as status_cli

    monkeypatch.setattr(status_cli, "_ACCOUNT_ROWS", 2)
    with PostStore.open() as store:
        for i, (account, n) in enumerate((("big", 3), ("mid", 2), ("a", 1), ("b", 1))):
            for k in range(n):
                store.add(NewPost(f"P{i}{k}", account, None, "hi", "table"), bytes([i, k]) * 50)
    out = flat(runner.invoke(app, ["status"]).output.replace("│", " "))  # cells, not borders
    assert "big 3" in out and "mid 2" in out and "2 more accounts 2" in out and "total 7" in out
    assert " a 1 " not in out
    data = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert data["posts"]["accounts"] == {"big": 3, "mid": 2, "a": 1, "b": 1}
