"""`instacap train` and `instacap caption` on the tiny demo data set, through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

from instacap import paths
from instacap.cli import app

pytest_plugins = ["tiny_data"]  # the `tiny` data set fixture

runner = CliRunner()


def _said(result) -> str:
    """The output with Rich's line wrapping undone."""
    return " ".join(result.output.split())


def _train(*extra: str):
    return runner.invoke(app, ["train", "--data", "demo", "--epochs", "1", "--name", "cli", *extra])


def test_train_then_caption(tiny):
    assert _train("--threads", "-1").exit_code == 2  # a usage error, before any work
    result = _train("--json", "--threads", "1")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["run"] == "cli" and len(summary["epochs"]) == 1
    meta = json.loads((paths.runs_dir() / "cli" / "meta.json").read_text())
    assert meta["train_config"]["threads"] == 1
    photo = tiny.val.images[0]
    out = runner.invoke(
        app, ["caption", str(photo), str(photo), "--n", "3", "--seed", "1", "--json"]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["run"] == "cli" and len(data["photos"]) == 2
    caps = data["photos"][0]["captions"]
    assert len(caps) == 3 and all(c["mean_logprob"] < 0 for c in caps)
    # Sorted best first, and the same seed gives the same captions.
    assert [c["mean_logprob"] for c in caps] == sorted(
        (c["mean_logprob"] for c in caps), reverse=True
    )
    again = runner.invoke(app, ["caption", str(photo), "--n", "3", "--seed", "1", "--json"])
    assert json.loads(again.stdout)["photos"][0]["captions"] == caps
    plain = runner.invoke(app, ["caption", str(photo), "--n", "2", "--run", "cli"])
    assert plain.exit_code == 0 and plain.stdout.startswith("1. ")


def test_original_preset_and_existing_run(tiny):
    assert _train("--preset", "original").exit_code == 0
    again = _train()
    assert again.exit_code == 1 and "already exists" in _said(again)
    resumed = runner.invoke(app, ["train", "--resume", "--epochs", "2", "--data", "demo"])
    assert resumed.exit_code == 0, resumed.output


def test_resume_with_nothing_to_resume_trains_nothing(tiny, instacap_home):
    result = runner.invoke(app, ["train", "--data", "demo", "--name", "fresh", "--resume"])
    assert result.exit_code == 1
    assert "has nothing to resume" in _said(result)
    assert not (instacap_home / "runs" / "fresh").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "--epochs must be at least 1, not 0."),
        (["--batch-size", "0"], "--batch-size must be at least 1, not 0."),
        (["--lr", "-0.1"], "--lr must be above 0, not -0.1."),
        # Negative patience used to end training after the first epoch without saying why.
        (["--patience", "-1"], "--patience must be 0 (never stop early) or more, not -1."),
    ],
)
def test_train_bad_settings_name_the_option_and_make_no_run(args, message):
    result = runner.invoke(app, ["train", "--data", "demo", "--name", "bad", *args])
    assert result.exit_code == 1 and message in _said(result)
    assert not (paths.runs_dir() / "bad").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--n", "0"], "--n must be at least 1"),
        (["--temperature", "-1"], "--temperature"),
        (["--top-p", "0"], "--top-p must be in"),
        (["--top-p", "1.5"], "--top-p must be in"),
    ],
)
def test_caption_bad_settings(tiny, args, message):
    assert _train().exit_code == 0
    result = runner.invoke(app, ["caption", str(tiny.val.images[0]), *args])
    assert result.exit_code == 1 and message in _said(result)


def test_caption_bad_photos(tiny, tmp_path):
    assert _train().exit_code == 0
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    corrupt = tmp_path / "cut.jpg"
    corrupt.write_bytes(tiny.val.images[0].read_bytes()[:300])
    huge = tmp_path / "huge.png"
    Image.new("1", (9000, 9000)).save(huge)
    for photo, message in [
        (tmp_path / "missing.jpg", "does not exist"),
        (text, "not an image"),
        (corrupt, "corrupt or truncated"),
        (huge, "too large"),
    ]:
        result = runner.invoke(app, ["caption", str(photo)])
        assert result.exit_code == 1, photo
        assert message in _said(result) and "Traceback" not in result.output


def test_no_data_set_and_no_run():
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 1 and "instacap prep" in _said(result)
    result = runner.invoke(app, ["caption", "photo.jpg"])
    assert result.exit_code == 1 and "instacap train" in _said(result)


def test_caption_as_a_real_process(tiny):
    assert _train().exit_code == 0
    proc = subprocess.run(
        [sys.executable, "-m", "instacap", "caption", str(tiny.val.images[0]), "--n", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("1. ") and "colours:" in proc.stderr
