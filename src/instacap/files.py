"""Durable file primitives shared by the stores: atomic writes, content hashes, a writer lock,
SQLite in WAL mode."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import shutil
import signal
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from instacap import paths
from instacap.errors import DiskFull

# Out of space, or out of the user's quota: to the user both mean "free some space".
_FULL = (errno.ENOSPC, errno.EDQUOT)
CRASH_ENV = "INSTACAP_CRASH_AT"  # see crash_point
_crash_counts: dict[str, int] = {}
_SQLITE_FULL = 13  # sqlite3.SQLITE_FULL, named in the module from Python 3.11 on
_SQLITE_IOERR = 10  # sqlite3.SQLITE_IOERR: extended codes keep it in their low byte
# A new file of its own, in binary mode (Windows would translate line ends otherwise).
_NEW_FILE = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)


def write_atomic(dest: Path, data: bytes) -> None:
    """Write `data` to `dest` so that `dest` is either absent or complete: temp file, fsync, rename.

    A full disk raises DiskFull, with the temporary file removed and `dest` as it was."""
    paths.ensure_dir(dest.parent)
    with on_full_disk(dest.parent):
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data[: len(data) // 2])
                fh.flush()
                crash_point(f"write:{dest.name}")  # half the file is on disk
                fh.write(data[len(data) // 2 :])
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def write_many_atomic(items: list[tuple[Path, bytes]]) -> None:
    """`write_atomic` for many small files at once, with one flush to disk for all of them.

    Each file is written to a temporary name, then the file system is synced once (instead of
    one fsync per file, which bounds imports to a few hundred files a second), then every file
    is renamed into place. On any error (a full disk raises DiskFull) no temporary file is left,
    and a destination is either as it was or complete.
    """
    temps: list[tuple[str, Path]] = []
    # Temporary names of this call's own (process id and a random tag, as mkstemp would pick,
    # but one pick per call instead of one per file: mkstemp was a tenth of an import's time).
    tag = f"{os.getpid()}-{secrets.token_hex(4)}"
    made: set[Path] = set()
    try:
        for dest, data in items:
            if dest.parent not in made:
                paths.ensure_dir(dest.parent)
                made.add(dest.parent)
            tmp = os.path.join(dest.parent, f".{dest.name}.{tag}.part")
            with on_full_disk(dest.parent):
                fd = os.open(tmp, _NEW_FILE, 0o600)
                temps.append((tmp, dest))
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data[: len(data) // 2])
                    fh.flush()
                    crash_point(f"write:{dest.name}")  # half the file is on disk
                    fh.write(data[len(data) // 2 :])
        if temps:
            with on_full_disk(items[0][0].parent):
                _sync_files([t for t, _ in temps])
        for tmp, dest in temps:
            os.replace(tmp, dest)
    except BaseException:
        for tmp, _ in temps:
            Path(tmp).unlink(missing_ok=True)
        raise


def _sync_files(files: list[str]) -> None:
    """Make the data of `files` durable: one syncfs(2) of their file system on Linux (all of them
    live on one), else an fsync each."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(files[0], os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for name in files:
        fd = os.open(name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def crash_point(tag: str) -> None:
    """A kill switch for the crash tests: with `INSTACAP_CRASH_AT=<tag>` (or `<tag>@<n>`) in the
    environment, the process SIGKILLs itself the first (n-th) time it passes `tag`, so a test can
    kill it in the middle of writing a checkpoint or a block of features. Tags: `write:<file
    name>` (half of an atomic write done) and `features` (half of a feature block appended)."""
    want = os.environ.get(CRASH_ENV)
    if not want:
        return
    name, _, nth = want.partition("@")
    if name != tag:
        return
    _crash_counts[tag] = _crash_counts.get(tag, 0) + 1
    if _crash_counts[tag] >= int(nth or 1):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))  # no SIGKILL on Windows


@contextmanager
def reserved_space(folder: Path, size: int) -> Iterator[Callable[[], None]]:
    """Hold `size` bytes of the disk in a hidden file in `folder` for the `with` block; yields a
    function that gives them back early. So that work done before the disk filled up can still be
    undone (a SQLite delete needs space too). No room for the reserve: DiskFull at once.
    A reserve a killed process left is removed by the next one."""
    for old in folder.glob(".reserve.*"):
        pid = old.name.rpartition(".")[2]
        if pid.isdigit() and not _alive(int(pid)):
            old.unlink(missing_ok=True)
    path = folder / f".reserve.{os.getpid()}"
    try:
        with on_full_disk(folder), open(path, "wb") as fh:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fh.fileno(), 0, size)
            else:  # pragma: no cover - macOS, Windows: zeros take real blocks too
                fh.write(bytes(size))
            fh.flush()
            os.fsync(fh.fileno())
        yield lambda: path.unlink(missing_ok=True)
    finally:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    return True


def remove_temp_files(folder: Path) -> None:
    """Delete the temporary files a killed `write_atomic` left in `folder` (`.NAME.XXXX.part`).
    Only for folders one process writes at a time (a run's, a data set's under its lock)."""
    if folder.is_dir():
        for tmp in folder.glob(".*.part"):
            tmp.unlink(missing_ok=True)


def is_disk_full(exc: BaseException, where: Path | None = None) -> bool:
    """Whether `exc` says the disk (or the user's quota) is full: an OSError with ENOSPC or
    EDQUOT, or SQLite's "database or disk is full". SQLite reports a full disk met while sizing
    its shared-memory file as a plain "disk I/O error"; that one counts when the disk holding
    `where` has less than 1 MiB free."""
    if isinstance(exc, OSError):
        return exc.errno in _FULL
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code == _SQLITE_FULL or "disk is full" in str(exc):
        return True
    is_io = (code & 0xFF) == _SQLITE_IOERR if isinstance(code, int) else "I/O error" in str(exc)
    return is_io and where is not None and _free_bytes(where) < 1 << 20


def _free_bytes(where: Path) -> int:
    path = Path(where)
    while not path.exists() and path.parent != path:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 1 << 62  # unknown: do not guess "full"


def disk_full(where: Path) -> DiskFull:
    """The one sentence for a full disk: which disk (mount point), how much is free there, and
    what can be freed."""
    where = Path(where).absolute()
    mount = where
    while not os.path.ismount(mount) and mount.parent != mount:
        mount = mount.parent
    try:
        free = f"{shutil.disk_usage(mount).free / 2**20:.1f} MB free"
    except OSError:
        free = "free space unknown"
    home = paths.home()
    return DiskFull(
        f"The disk mounted at {mount} ({free}) is full, so {where} could not be written and "
        f"nothing was left half-written: free space on it (`instacap status` shows what the cache "
        f"uses; runs in {home / 'runs'} and features in {home / 'features'} can be deleted) or "
        f"point {paths.ENV_HOME} at a bigger disk, then run the command again."
    )


@contextmanager
def on_full_disk(where: Path) -> Iterator[None]:
    """Turn a full-disk OSError or sqlite3 error inside the block into DiskFull naming `where`."""
    try:
        yield
    except DiskFull:
        raise
    except (OSError, sqlite3.Error) as exc:
        if is_disk_full(exc, where):
            raise disk_full(where) from exc
        raise


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in `path` as far as it can be read, {} when missing, damaged or not an
    object: for summaries and hints, never for what a command relies on."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (photos, weights files)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if needed) for the `with` block; waits for it."""
    with open(path, "a+b") as fh:
        _lock(fh)
        try:
            yield
        finally:
            _unlock(fh)


def _lock(fh: IO[bytes]) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        fh.seek(0)
        while True:
            try:
                msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
                return
            except OSError:
                continue
    import fcntl

    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)


def _unlock(fh: IO[bytes]) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def open_wal(path: Path, schema: str, timeout: float) -> sqlite3.Connection:
    """A SQLite database in WAL mode and autocommit (each write opens its own short explicit
    transaction), waiting up to `timeout` seconds for other writers; `schema` is applied."""
    db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    db.executescript(schema)
    return db
