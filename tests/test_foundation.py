"""The cache location, name rules, error handling and the posts store."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from instacap import paths
from instacap.cli import app
from instacap.errors import CacheError, DiskFull, InputError
from instacap.posts import NewPost, PostStore


def _post(code: str = "ABC123", account: str = "natgeo", caption: str = "Hello 🌍") -> NewPost:
    return NewPost(
        shortcode=code,
        account=account,
        taken_at=datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc),
        caption=caption,
        source="table",
    )


def test_home_follows_env_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTACAP_HOME", str(tmp_path / "a"))
    assert paths.home() == tmp_path / "a"
    monkeypatch.setenv("INSTACAP_HOME", str(tmp_path / "b"))
    assert paths.runs_dir() == tmp_path / "b" / "runs"


def test_home_defaults_to_platform_cache(monkeypatch):
    monkeypatch.delenv("INSTACAP_HOME")
    assert "instacap" in str(paths.home()).lower()


@pytest.mark.parametrize("name", ["../etc", "a/b", "", "x" * 31, "näme", "a b"])
def test_invalid_account_names_rejected(name):
    with pytest.raises(InputError, match="not a valid Instagram account name"):
        paths.validate_account(name)


def test_valid_account_names_pass():
    assert paths.validate_account("nat.geo_2024") == "nat.geo_2024"


def test_store_adds_once_and_reads_back(instacap_home):
    with PostStore.open() as store:
        assert store.add(_post(), b"jpegbytes") is True
        assert store.add(_post(caption="changed"), b"other") is False
        store.add(_post(code="XYZ789", account="nasa"), b"more")
        assert (store.count(), store.count("natgeo"), store.count("nobody")) == (2, 1, 0)
        (post,) = store.posts(["natgeo"])
    assert post.caption == "Hello 🌍"
    assert post.image == instacap_home / "posts" / "natgeo" / "ABC123.jpg"
    assert post.image.read_bytes() == b"jpegbytes"
    assert post.taken_at == datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def test_store_uses_wal(instacap_home):
    with PostStore.open() as store:
        mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_demo_store_is_separate(instacap_home):
    with PostStore.open(demo=True) as demo:
        demo.add(_post(account="demo.sunny"), b"x")
    with PostStore.open() as own:
        assert own.count() == 0


def test_failed_image_write_leaves_no_row(instacap_home, monkeypatch):
    """A crash while writing the image must not leave a row pointing at nothing."""
    store = PostStore.open()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", boom)
        with pytest.raises(DiskFull, match="is full"):  # one sentence, naming the disk
            store.add(_post(), b"data")
    assert store.count() == 0
    assert list((instacap_home / "posts" / "natgeo").glob("*")) == []


def test_two_writers_do_not_corrupt(instacap_home):
    def writer(prefix: str) -> None:
        with PostStore.open() as store:
            for i in range(30):
                store.add(_post(code=f"{prefix}{i}"), b"img")

    threads = [threading.Thread(target=writer, args=(p,)) for p in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with PostStore.open() as store:
        assert store.count() == 60


def test_new_store_opened_by_several_writers_at_once(tmp_path):
    """Two commands starting together on an empty cache must both get the store."""
    failures: list[Exception] = []

    def opener(root: Path) -> None:
        try:
            PostStore(root).close()
        except Exception as exc:  # collected: an exception in a thread would not fail the test
            failures.append(exc)

    for i in range(80):
        threads = [threading.Thread(target=opener, args=(tmp_path / str(i),)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []


def test_unwritable_cache_is_one_clear_error(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        # root writes anywhere; simulate the failure at the mkdir boundary instead.
        def deny(self, *a, **k):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(Path, "mkdir", deny)
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        monkeypatch.setenv("INSTACAP_HOME", str(locked / "home"))
    with pytest.raises(CacheError, match="INSTACAP_HOME"):
        PostStore.open()


def test_version_and_help_do_not_import_torch():
    code = (
        "import sys; from typer.testing import CliRunner; from instacap.cli import app;"
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_console_script_runs_as_subprocess():
    exe = Path(sys.executable).with_name("instacap")
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("instacap ")
    module = subprocess.run(
        [sys.executable, "-m", "instacap", "--version"], capture_output=True, text=True
    )
    assert module.returncode == 0 and module.stdout == result.stdout


def test_errors_are_one_red_line_and_exit_1(monkeypatch):
    from instacap.cli.app import app as root
    from instacap.errors import NotReady

    @root.command("boom-test", hidden=True)
    def boom() -> None:
        raise NotReady("Nothing is prepared yet; run `instacap prep` first.")

    try:
        result = CliRunner().invoke(app, ["boom-test"])
        assert result.exit_code == 1
        assert "Nothing is prepared yet" in result.output
        assert "Traceback" not in result.output
        debug = CliRunner().invoke(app, ["--debug", "boom-test"])
        assert isinstance(debug.exception, NotReady)
    finally:
        root.registered_commands = [c for c in root.registered_commands if c.name != "boom-test"]


def test_bad_usage_exits_2():
    result = CliRunner().invoke(app, ["no-such-command"])
    assert result.exit_code == 2
