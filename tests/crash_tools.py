"""Helpers of the crash, concurrency and full-disk tests: tiny photo tables, running and
killing real `instacap` processes, and reading back what the cache holds."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

CLI = [sys.executable, "-m", "instacap"]
SEED = 15
TABLE_POSTS = 2000  # import and prep
TRAIN_POSTS = 48  # train: tiny data, a few epochs
PREP = [
    "prep",
    "--encoder",
    "thumbnail",
    "--workers",
    "2",
    "--batch-size",
    "64",
    "--min-count",
    "1",
]
TRAIN = ["train", "--name", "k", "--epochs", "3", "--batch-size", "8", "--threads", "1"]


# -- data and homes ---------------------------------------------------------------------------
def write_table(folder: Path, n: int) -> Path:
    """n tiny distinct photos and posts.csv naming them (three accounts, short captions)."""
    (folder / "photos").mkdir(parents=True)
    with open(folder / "posts.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["image", "caption", "account", "shortcode"])
        for i in range(n):
            colour = ((i * 37) % 256, (i * 91) % 256, (i // 256) * 40 % 256)
            Image.new("RGB", (12, 12), colour).save(folder / "photos" / f"p{i}.png")
            words = ("sun", "sea", "city", "snow", "cat", "road")
            out.writerow(
                [f"photos/p{i}.png", f"{words[i % 6]} {words[i * 7 % 6]} #{words[i % 5]}",
                 f"acct{i % 3}", f"S{i:05d}"]
            )  # fmt: skip
    return folder / "posts.csv"


def scratch_root() -> Path:
    """Somewhere fast for the caches: RAM (/dev/shm) when it has room to spare (a container's is
    often 64 MB). What is tested is what a kill leaves, not how fast the disk syncs."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 1 << 30:
        return Path(tempfile.mkdtemp(prefix="instacap-crash-", dir=shm))
    return Path(tempfile.mkdtemp(prefix="instacap-crash-"))


def env_for(home: Path, crash_at: str | None = None) -> dict[str, str]:
    env = {**os.environ, "INSTACAP_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("INSTACAP_CRASH_AT", None)
    if crash_at:
        env["INSTACAP_CRASH_AT"] = crash_at
    return env


def run(args: list[str], home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The command to completion; it must succeed."""
    done = subprocess.run(
        [*CLI, *args], env=env_for(home), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args}: {done.stderr[-2000:]}"
    return done


# -- killing ------------------------------------------------------------------------------------
def session_alive(sid: int) -> list[str]:
    """Processes of session `sid` still running (zombies are dead: only their exit status is left)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            fields = text[text.rindex(")") + 2 :].split()
            state, session = fields[0], int(fields[3])
            if session == sid and state not in ("Z", "X"):
                alive.append(text[: text.rindex(")") + 1])
    return alive


def kill_run(args: list[str], home: Path, *, after: float | None = None,
             crash_at: str | None = None, timeout: float = 300) -> int:  # fmt: skip
    """Start the command in its own session and SIGKILL it `after` seconds (or let
    INSTACAP_CRASH_AT kill it); returns its exit status (0 when it finished first). Then no
    process of that session may be left: decoding workers must die with their parent."""
    proc = subprocess.Popen(
        [*CLI, *args],
        env=env_for(home, crash_at),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        if after is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(after)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout)
        deadline = time.monotonic() + 3
        while session_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not session_alive(proc.pid), f"left running: {session_alive(proc.pid)}"
        return code
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # never leave anything behind, even on failure


def timed_moments(rng: random.Random, seconds: float) -> list[float]:
    """Seeded kill times within a command's usual duration."""
    rounds = int(os.environ.get("INSTACAP_CRASH_ROUNDS", "1"))
    return [rng.uniform(0.15, 0.9) * seconds for _ in range(rounds)]


# -- what the cache holds ------------------------------------------------------------------------
def check_sqlite(home: Path) -> None:
    for db in home.rglob("*.db"):
        con = sqlite3.connect(db)
        try:
            assert con.execute("pragma integrity_check").fetchone()[0] == "ok", db
        finally:
            con.close()


def posts_state(home: Path) -> list[tuple]:
    """Stored posts (added_at aside) with the sha256 of each photo, which must exist."""
    db = home / "posts.db"
    if not db.exists():
        return []
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT shortcode, account, taken_at, caption, image, source FROM posts ORDER BY shortcode"
    ).fetchall()
    con.close()
    out = []
    for row in rows:
        photo = home / row[4]
        assert photo.is_file(), f"post {row[0]} has no photo"
        out.append((*row, hashlib.sha256(photo.read_bytes()).hexdigest()))
    return out


def features_state(home: Path) -> dict[str, bytes]:
    """hash -> recorded feature row bytes, for every encoder; each recorded row must have its data."""
    state: dict[str, bytes] = {}
    for folder in sorted((home / "features").glob("*")):
        if not (folder / "index.db").exists():
            continue
        dim = json.loads((folder / "meta.json").read_text())["dim"]
        con = sqlite3.connect(folder / "index.db")
        rows = dict(con.execute("SELECT hash, row FROM rows").fetchall())
        con.close()
        matrix = folder / "matrix.f16"
        data = matrix.read_bytes() if matrix.exists() else b""
        assert sorted(rows.values()) == list(range(len(rows))), "rows are not 0..n-1"
        assert len(data) >= len(rows) * dim * 2, "a recorded row has no data"
        for digest, r in rows.items():
            state[f"{folder.name}/{digest}"] = data[r * dim * 2 : (r + 1) * dim * 2]
    return state


def no_unrecorded_rows(home: Path) -> None:
    """After a finished command the matrix holds exactly the recorded rows (a killed append's
    bytes were cut off by the next writer)."""
    for folder in (home / "features").glob("*"):
        dim = json.loads((folder / "meta.json").read_text())["dim"]
        con = sqlite3.connect(folder / "index.db")
        count = con.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
        con.close()
        assert (folder / "matrix.f16").stat().st_size == count * dim * 2


def dataset_state(home: Path, name: str = "default") -> dict[str, object]:
    """The data set as training sees it: per split the shortcodes, token ids and feature rows."""
    code = (
        "import json, sys, hashlib; from instacap import dataset; d = dataset.load(sys.argv[1]);"
        "import numpy as np;"
        "out = {p: [list(s.shortcodes), hashlib.sha256(np.ascontiguousarray(s.ids).tobytes()).hexdigest(),"
        " hashlib.sha256(np.ascontiguousarray(s.features(np.arange(len(s)))).tobytes()).hexdigest()]"
        " for p, s in (('train', d.train), ('val', d.val))};"
        "out['vocab'] = list(d.vocab.tokens); print(json.dumps(out))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, name], env=env_for(home), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def check_after_kill(home: Path) -> None:
    check_sqlite(home)
    posts_state(home)
    features_state(home)


def run_files(home: Path, name: str = "k") -> dict[str, Any]:
    """A run's per-epoch validation losses and its model weights (model.npz)."""
    path = home / "runs" / name
    metrics = [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]
    with np.load(path / "model.npz") as npz:
        weights = {k: npz[k] for k in npz.files}
    return {
        "metrics": [(m["epoch"], m["val_loss"], m["best"]) for m in metrics],
        "weights": weights,
    }
