"""Crash safety, proved on real processes: `instacap import`, `prep` and `train` are SIGKILLed at
seeded moments (before their first commit, in the middle of writing a feature block or a
checkpoint, at random times), then the cache is checked and the same command is run again.

After every kill: each SQLite file passes `pragma integrity_check`, each stored post's photo exists,
each recorded feature row has its data, and no process of the killed command is alive. After the
rerun: the end state equals that of a run never interrupted. Also: two writers at once.

Kills in the middle of a write use `INSTACAP_CRASH_AT` (files.crash_point), the others are timed.
INSTACAP_CRASH_ROUNDS sets the number of timed kills per command; with INSTACAP_SLOW_TESTS=1
the slow test runs every kill test again with six.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from crash_tools import (
    CLI,
    PREP,
    SEED,
    TABLE_POSTS,
    TRAIN,
    TRAIN_POSTS,
    check_after_kill,
    check_sqlite,
    dataset_state,
    env_for,
    features_state,
    kill_run,
    no_unrecorded_rows,
    posts_state,
    run,
    run_files,
    scratch_root,
    timed_moments,
    write_table,
)
from instacap.sampling import Captioner

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc to find processes left behind"
)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    root = scratch_root()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def table(scratch: Path) -> Path:
    return write_table(scratch / "table", TABLE_POSTS)


@pytest.fixture(scope="module")
def imported(scratch: Path, table: Path) -> tuple[Path, float]:
    """A cache after one uninterrupted import of the table, and how long that took."""
    home = scratch / "imported"
    t0 = time.monotonic()
    run(["import", str(table)], home)
    return home, time.monotonic() - t0


@pytest.fixture
def here(monkeypatch: pytest.MonkeyPatch, one_torch_thread: None):
    """Run a command to completion in this process (no interpreter and torch start-up to pay):
    for the uninterrupted runs the killed ones are compared with."""
    from typer.testing import CliRunner

    from instacap.cli import app

    def invoke(args: list[str], home: Path) -> float:
        monkeypatch.setenv("INSTACAP_HOME", str(home))
        t0 = time.monotonic()
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output[-2000:]
        return time.monotonic() - t0

    return invoke


def timed(args: list[str], home: Path, crash_at: str) -> float:
    """Seconds until a process killed at `crash_at` died: its start-up cost, about."""
    t0 = time.monotonic()
    assert kill_run(args, home, crash_at=crash_at) == -signal.SIGKILL
    return time.monotonic() - t0


def copy_of(home: Path, dest: Path) -> Path:
    shutil.copytree(home, dest)
    return dest


# -- kills ----------------------------------------------------------------------------------------
def test_import_survives_kills(scratch: Path, table: Path, imported: tuple[Path, float]) -> None:
    straight, seconds = imported
    expected = posts_state(straight)
    assert len(expected) == TABLE_POSTS
    args = ["import", str(table)]
    home = scratch / "import-killed"
    # In the middle of writing the first photo: before the first commit.
    assert kill_run(args, home, crash_at="write:S00000.png") == -signal.SIGKILL
    check_after_kill(home)
    assert posts_state(home) == []
    for moment in timed_moments(random.Random(SEED), seconds):
        kill_run(args, home, after=moment)
        check_after_kill(home)
    run(args, home)
    check_sqlite(home)
    assert posts_state(home) == expected


def test_prep_survives_kills_and_leaves_no_worker(
    scratch: Path, imported: tuple[Path, float], here
) -> None:
    straight = copy_of(imported[0], scratch / "prep-straight")
    home = copy_of(imported[0], scratch / "prep-killed")
    seconds = here(PREP, straight)
    expected = (features_state(straight), dataset_state(straight))
    # In the middle of appending the second block of features, two decoding workers running.
    seconds += timed(PREP, home, "features@2")
    check_after_kill(home)
    assert 0 < len(features_state(home)) < TABLE_POSTS
    for moment in timed_moments(random.Random(SEED + 1), seconds):
        kill_run(PREP, home, after=moment)
        check_after_kill(home)
    run(PREP, home)
    check_sqlite(home)
    no_unrecorded_rows(home)
    assert (features_state(home), dataset_state(home)) == expected


def test_train_survives_kills(scratch: Path, here, monkeypatch: pytest.MonkeyPatch) -> None:
    straight = scratch / "train-straight"
    here(["import", str(write_table(scratch / "train-table", TRAIN_POSTS))], straight)
    here([*PREP, "--val-share", "0.25"], straight)
    home = copy_of(straight, scratch / "train-killed")
    seconds = here(TRAIN, straight)
    expected = run_files(straight)
    run_dir = home / "runs" / "k"
    # In the middle of writing meta.json the first time: the run has nothing yet.
    seconds += timed(TRAIN, home, "write:meta.json")
    assert not (run_dir / "meta.json").exists()
    # In the middle of the first checkpoint: meta.json and maybe the first model, no last.pt.
    assert kill_run(TRAIN, home, crash_at="write:last.pt") == -signal.SIGKILL
    assert (run_dir / "meta.json").exists() and not (run_dir / "last.pt").exists()
    # In the middle of saving epoch 2's better model: last.pt of epoch 1 is there.
    assert kill_run(TRAIN, home, crash_at="write:model.pt@2") == -signal.SIGKILL
    assert (run_dir / "last.pt").exists()
    check_after_kill(home)
    # Timed kills too only when more rounds are asked for: the three above cost a minute.
    for moment in timed_moments(random.Random(SEED + 2), seconds)[1:]:
        kill_run(TRAIN, home, after=moment)
    run(TRAIN, home)
    got = run_files(home)
    assert got["metrics"] == expected["metrics"]
    for key, value in expected["weights"].items():
        np.testing.assert_allclose(got["weights"][key], value, rtol=0, atol=1e-6)
    assert not list(run_dir.glob(".*.part"))
    monkeypatch.setenv("INSTACAP_HOME", str(home))
    captions = Captioner.load("k").caption(next((home / "posts").rglob("*.png")), n=2, seed=1)
    assert len(captions) == 2 and all(c.text for c in captions)


# -- two writers at once ----------------------------------------------------------------------
def test_two_imports_at_once_and_prep_during_import(scratch: Path, here) -> None:
    posts = 400
    table = write_table(scratch / "small-table", posts)
    home, sequential = scratch / "concurrent", scratch / "sequential"
    both = [
        subprocess.Popen(
            [*CLI, "import", str(table), "--json"],
            env=env_for(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in both]
    assert [p.returncode for p in both] == [0, 0], [err[-1000:] for _, err in outs]
    results = [json.loads(out) for out, _ in outs]
    # Each post was stored by exactly one of them and found already stored by the other.
    assert sum(r["imported"] for r in results) == posts
    assert all(r["imported"] + r["already_stored"] == posts for r in results)
    check_sqlite(home)
    here(["import", str(table)], sequential)
    assert posts_state(home) == posts_state(sequential)

    # prep while another table is imported into the same store: neither fails, and after one
    # more prep the cache is that of import, import, prep one after the other.
    more = write_table(scratch / "more-table", 200)
    more.write_text(more.read_text().replace(",S0", ",M0"))
    importing = subprocess.Popen(
        [*CLI, "import", str(more)], env=env_for(home), stderr=subprocess.PIPE, text=True
    )
    prep = subprocess.run([*CLI, *PREP], env=env_for(home), capture_output=True, text=True)
    _, err = importing.communicate(timeout=300)
    assert importing.returncode == 0, err[-2000:]
    assert prep.returncode == 0, prep.stderr[-2000:]
    check_sqlite(home)
    no_unrecorded_rows(home)
    run(PREP, home)
    here(["import", str(more)], sequential)
    here(PREP, sequential)
    assert posts_state(home) == posts_state(sequential)
    assert features_state(home) == features_state(sequential)
    assert dataset_state(home) == dataset_state(sequential)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("INSTACAP_SLOW_TESTS"), reason="more kill rounds: set INSTACAP_SLOW_TESTS=1"
)
def test_more_kill_rounds(
    scratch: Path, table: Path, here, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All the kill tests again with six timed kills per command."""
    monkeypatch.setenv("INSTACAP_CRASH_ROUNDS", "6")
    more = scratch / "more-rounds"
    more.mkdir()
    home = more / "imported"
    t0 = time.monotonic()
    run(["import", str(table)], home)
    straight = (home, time.monotonic() - t0)
    test_import_survives_kills(more, table, straight)
    test_prep_survives_kills_and_leaves_no_worker(more, straight, here)
    test_train_survives_kills(more, here, monkeypatch)
