"""`instacap prep --nproc 2`: two workers under torchrun compute the features into one store.

Each worker takes every second post's photo and appends its batches to the encoder's feature
store under the store's lock; the data set is then built by one process. The thumbnail encoder
is deterministic, so the features must equal those of a one-process prep (a tolerance of 1e-3
allows for another CPU's rounding).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from instacap import demo
from instacap.cli.app import app
from instacap.files import CRASH_ENV
from instacap.posts import PostStore

PREP = [sys.executable, "-m", "instacap", "prep", "--demo", "--encoder", "thumbnail"]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="workers are tested on Linux")


def _features(home: Path) -> dict[str, np.ndarray]:
    """content hash -> feature row of the thumbnail store under `home`."""
    folder = home / "features" / "thumbnail"
    con = sqlite3.connect(folder / "index.db")
    rows = dict(con.execute("SELECT hash, row FROM rows").fetchall())
    con.close()
    matrix = np.fromfile(folder / "matrix.f16", np.float16).reshape(-1, 142)
    return {h: matrix[r].astype(np.float32) for h, r in rows.items()}


def _prep(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PREP, *args],
        env={**os.environ, "INSTACAP_HOME": str(home), "NO_COLOR": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_two_workers_give_the_features_of_one_process_and_resume_after_a_kill(
    instacap_home: Path, tmp_path: Path
) -> None:
    with PostStore.open(demo=True) as store:
        demo.generate(store, n=40, size=48)
    homes = {k: tmp_path / k for k in ("workers", "killed")}
    for home in homes.values():
        shutil.copytree(instacap_home, home)
    alone = CliRunner().invoke(app, ["prep", "--demo", "--encoder", "thumbnail", "--json"])
    assert alone.exit_code == 0, alone.output
    expected = _features(instacap_home)

    done = _prep(homes["workers"], "--nproc", "2", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert (summary["computed"], summary["reused"]) == (40, 0)  # by the workers, none twice
    assert summary["train"] == json.loads(alone.stdout)["train"]
    got = _features(homes["workers"])
    assert got.keys() == expected.keys()
    assert max(float(np.abs(got[h] - expected[h]).max()) for h in got) < 1e-3
    for part in ("train", "val"):  # the same data set, token for token
        name = f"datasets/demo/{part}_ids.npy"
        assert (np.load(homes["workers"] / name) == np.load(instacap_home / name)).all()

    # Each worker killed in the middle of storing its first batch of features: a rerun
    # finishes the store, with nothing twice and nothing half-written.
    killed = _prep(
        homes["killed"], "--nproc", "2", "--batch-size", "8", env={CRASH_ENV: "features"}
    )
    assert killed.returncode == 128 + 9 and "run the same command again" in killed.stderr
    assert len(_features(homes["killed"])) < 40
    again = _prep(homes["killed"], "--nproc", "2", "--batch-size", "8", "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    got = _features(homes["killed"])
    assert got.keys() == expected.keys()
    assert max(float(np.abs(got[h] - expected[h]).max()) for h in got) < 1e-3
    size = (homes["killed"] / "features" / "thumbnail" / "matrix.f16").stat().st_size
    assert size == 40 * 142 * 2  # no row of the killed batches left behind
