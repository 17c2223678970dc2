"""A full disk: `import`, `prep` and `train` on a small tmpfs filled up end with one sentence that
names the disk and what to free, and leave the cache as it was before the command.

Mounting needs root (CI runs as root); elsewhere the test is skipped and says why.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crash_tools import CLI, PREP, env_for, run, write_table

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mounts a tmpfs")

DISK_MB = 24
TRAIN = ["train", "--epochs", "1", "--batch-size", "8", "--threads", "1"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A DISK_MB tmpfs mounted for this test only, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs the tests as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path, leave: int) -> Path:
    """Take all free space on the disk but `leave` bytes, with one ballast file."""
    ballast = mount / "ballast"
    ballast.unlink(missing_ok=True)
    st = os.statvfs(mount)
    size = st.f_bavail * st.f_frsize - leave
    with open(ballast, "wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, size)
    return ballast


def snapshot(home: Path) -> dict[str, object]:
    """Every file of the cache by content; SQLite databases by their rows (their -wal and -shm
    files are SQLite's own business). Empty folders hold nothing and are left out."""
    state: dict[str, object] = {}
    for path in sorted(home.rglob("*")):
        rel = str(path.relative_to(home))
        if path.is_dir() or rel.endswith(("-wal", "-shm")):
            continue
        if path.suffix == ".db":
            con = sqlite3.connect(path)
            assert con.execute("pragma integrity_check").fetchone()[0] == "ok", rel
            state[rel] = list(con.iterdump())
            con.close()
        else:
            state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def full_run(args: list[str], home: Path) -> str:
    """Run a command that must fail for want of space; returns what it said, wrapping undone."""
    done = subprocess.run([*CLI, *args], env=env_for(home), capture_output=True, text=True)
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1, f"{args}: {said[-2000:]}"
    assert "Traceback" not in said
    return said


def check_message(said: str, mount: Path) -> None:
    """One sentence that names the disk and what to free."""
    assert f"The disk mounted at {mount} " in said and "is full" in said, said
    assert "instacap status" in said and "runs in" in said and "INSTACAP_HOME" in said, said
    assert said.count(". ") == 0 and said.endswith("."), said  # one sentence


def test_full_disk_leaves_the_cache_as_it_was(small_disk: Path, tmp_path: Path) -> None:
    home = small_disk / "home"
    first = write_table(tmp_path / "first", 48)
    second = write_table(tmp_path / "second", 48)
    second.write_text(second.read_text().replace(",S0", ",B0"))
    third = write_table(tmp_path / "third", 48)
    third.write_text(third.read_text().replace(",S0", ",C0"))
    run(["import", str(first)], home)
    run([*PREP, "--val-share", "0.25"], home)
    run(["import", str(second)], home)  # stored, but not prepped yet
    before = snapshot(home)

    cases = [
        (["import", str(third)], 0),  # not even the first photo fits
        # Some photos fit beside the 2 MiB import holds back to undo them (16 of the 48: tmpfs
        # gives each a 4 KiB page; posts are stored 256 at a time): they are taken back.
        (["import", str(third)], (2 << 20) + 64 * 1024),
        ([*PREP, "--val-share", "0.25"], 0),
        ([*TRAIN, "--name", "new"], 0),  # not even meta.json fits
        ([*TRAIN, "--name", "new"], 1536 * 1024),  # model.pt fits, model.npz does not
    ]
    for args, leave in cases:
        ballast = fill(small_disk, leave)
        said = full_run(args, home)
        ballast.unlink()
        check_message(said, small_disk)
        assert snapshot(home) == before, (args, leave)
        assert not [p for p in home.rglob("*") if p.name.endswith((".part", ".new"))]

    # With space again, the import that was taken back completes.
    run(["import", str(third)], home)


# -- without root: a full disk simulated where the bytes are written ------------------------
def test_atomic_write_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    import errno

    from instacap import files
    from instacap.errors import DiskFull

    dest = tmp_path / "meta.json"
    dest.write_bytes(b"old")
    real_fsync = os.fsync

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(DiskFull, match=r"The disk mounted at \S+ .*is full.*instacap status"):
        files.write_atomic(dest, b"new")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert dest.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == [
        "meta.json"
    ]


def test_feature_block_on_a_full_disk_is_cut_off(tmp_path, monkeypatch):
    import errno

    import numpy as np

    from instacap import features
    from instacap.errors import DiskFull

    store = features.FeatureStore(tmp_path / "f", 4)
    store.append(["a", "b"], np.ones((2, 4), np.float32))
    real_fsync = os.fsync

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)  # after the block's bytes were written
    with pytest.raises(DiskFull):
        store.append(["c", "d"], np.zeros((2, 4), np.float32))
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert store.count() == 2 and store.matrix_path.stat().st_size == 2 * 4 * 2
    assert store.lookup(["a", "b", "c"]) == {"a": 0, "b": 1}
    store.close()
