"""A run killed at any moment never leaves the user going from one command to another:
`train`, `train --resume`, `caption`, `eval` and `status` all agree on what to do next."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from instacap import files, runs, sampling, training
from instacap.cli import app
from instacap.config import ModelConfig, TrainConfig

pytest_plugins = ["tiny_data"]  # the `tiny` data set fixture

runner = CliRunner()
SMALL = ModelConfig(embed=16, hidden=32)
FAST = TrainConfig(epochs=2, batch_size=4, lr=5e-3, device="cpu", threads=1)


class _Killed(BaseException):
    """Stands in for SIGKILL: nothing in instacap catches it or cleans up after it."""


class _KillAt:
    """A Reporter that kills the process when task `task` starts."""

    def __init__(self, task: str) -> None:
        self.task = task

    def start(self, task, total=None, **info):
        if task.startswith(self.task):
            raise _Killed(task)

    def advance(self, task, n=1, **info):
        pass

    def note(self, text):
        pass


def _said(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture
def killed_first_epoch(tiny):
    """Run 'k' killed in its first seconds: meta.json and nothing else."""
    with pytest.raises(_Killed):
        training.fit(tiny, SMALL, FAST, name="k", reporter=_KillAt("epoch 1/"))
    path = runs.run_dir("k")
    assert sorted(p.name for p in path.iterdir()) == ["meta.json"]
    return path


def test_same_train_command_starts_it_again(killed_first_epoch):
    args = ["train", "--data", "demo", "--name", "k", "--epochs", "2", "--threads", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "stopped before its first epoch ended" in _said(result)
    assert "training it again from the start" in _said(result)
    assert runs.is_trained(killed_first_epoch)
    assert len((killed_first_epoch / "metrics.jsonl").read_text().splitlines()) == 2


def test_resume_starts_from_epoch_one_with_saved_settings(killed_first_epoch):
    result = runner.invoke(
        app, ["train", "--resume", "--data", "demo", "--name", "k", "--epochs", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "with its saved settings" in _said(result)
    meta = json.loads((killed_first_epoch / "meta.json").read_text())
    # The killed run's own settings (batch 4, lr 5e-3, a small network), not the defaults.
    assert meta["train_config"]["batch_size"] == 4 and meta["train_config"]["lr"] == 5e-3
    assert meta["model_config"]["hidden"] == 32
    assert meta["metrics"]["epochs_done"] == 1


def test_caption_eval_and_status_call_it_incomplete(killed_first_epoch, tiny):
    photo = str(tiny.val.images[0])
    for args in (["caption", photo, "--run", "k"], ["eval", "--run", "k"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, args
        said = _said(result)
        assert "Run 'k' has no trained model yet" in said, said
        assert "instacap train --data demo --epochs 2 --name k" in said
        assert "model.pt" not in said and "Traceback" not in said
    # Without --run: no trained run, and the message names the incomplete one.
    result = runner.invoke(app, ["caption", photo])
    assert result.exit_code == 1 and "run 'k' stopped before its first epoch" in _said(result)

    data = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    (k,) = data["runs"]
    assert k["state"] == "incomplete" and "--name k" in k["retrain"]
    table = _said(runner.invoke(app, ["status"]))
    assert "Runs: none yet" in table and "Incomplete run k" in table


def test_an_incomplete_run_is_not_the_default_run(killed_first_epoch, tiny):
    training.fit(tiny, SMALL, dataclasses.replace(FAST, epochs=1), name="good")
    # Killed later than "good" was trained, yet "good" stays the run captions come from.
    (killed_first_epoch / "meta.json").touch()
    assert sampling.Captioner.load().run.name == "good"


def test_kill_while_a_better_epoch_is_saved_keeps_the_run_usable(tiny, monkeypatch):
    training.fit(tiny, SMALL, dataclasses.replace(FAST, epochs=1), name="w")
    real = files.write_atomic

    def die_on_npz(dest, data):
        if dest.name == "model.npz":
            raise _Killed(dest.name)  # model.pt is already the new epoch's, model.npz is not
        real(dest, data)

    monkeypatch.setattr(runs.weights, "write_atomic", die_on_npz)
    with pytest.raises(_Killed):
        training.fit(tiny, SMALL, dataclasses.replace(FAST, epochs=3), name="w", resume=True)
    monkeypatch.setattr(runs.weights, "write_atomic", real)
    # Both weights files are ones meta.json accepts, so both back ends load the run.
    assert sampling.Captioner.load("w").backend == "numpy"
    assert runs.load("w", backend="torch").name == "w"
    photo = str(tiny.val.images[0])
    result = runner.invoke(app, ["caption", photo, "--run", "w", "--n", "1"])
    assert result.exit_code == 0, result.output


def test_same_command_continues_an_unfinished_run(tiny):
    args = ["train", "--data", "demo", "--name", "u", "--epochs", "3", "--threads", "1"]
    args += ["--batch-size", "4"]

    # Interrupt after epoch 1 has been saved: Ctrl-C (the same files as a kill after saving).
    class _CtrlC(_KillAt):
        def start(self, task, total=None, **info):
            if task.startswith("epoch 2/"):
                raise KeyboardInterrupt

    train = dataclasses.replace(TrainConfig(), epochs=3, batch_size=4, threads=1, device="auto")
    with pytest.raises(training.Interrupted):
        training.fit(tiny, ModelConfig(), train, name="u", reporter=_CtrlC("epoch 2/"))
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "continuing it from there" in _said(again)
    lines = (runs.run_dir("u") / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2, 3]
    # Once more: it has finished, so nothing is trained and nothing changes.
    before = (runs.run_dir("u") / "model.npz").read_bytes()
    done = runner.invoke(app, args)
    assert done.exit_code == 0 and "already finished its 3 epochs" in _said(done)
    assert (runs.run_dir("u") / "model.npz").read_bytes() == before
    # Other settings than the run's own: refused, with both ways forward.
    other = runner.invoke(app, [*args[:-1], "8"])
    assert other.exit_code == 1 and "--resume" in _said(other) and "--overwrite" in _said(other)


def test_kill_between_checkpoint_and_meta_json_loses_nothing(tiny, monkeypatch):
    real = runs.description.write_atomic

    def die_on_epoch_one(path, data):
        meta = json.loads(data) if path.name == "meta.json" else {}
        if meta.get("metrics", {}).get("epochs_done") == 1:
            raise _Killed(path.name)  # last.pt of epoch 1 is written, meta.json not yet
        real(path, data)

    monkeypatch.setattr(runs.description, "write_atomic", die_on_epoch_one)
    with pytest.raises(_Killed):
        training.fit(tiny, SMALL, FAST, name="m")
    monkeypatch.setattr(runs.description, "write_atomic", real)
    path = runs.run_dir("m")
    assert runs.has_checkpoint(path) and not runs.is_trained(path)
    result = training.fit(tiny, SMALL, FAST, name="m")  # the same call: continues
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert runs.is_trained(path) and "pending_sha256" not in json.loads(
        (path / "meta.json").read_text()
    )
