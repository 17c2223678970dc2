"""`instacap train --nproc 2`: two gloo workers under torchrun on the CPU, on the tiny data set.

The workers share every batch (each takes half its captions) and sum their token-weighted
gradients, so two workers follow the one-process run: same global batch, same learning rate,
same number of steps. They are not bit-identical: each worker draws its own dropout masks for
its half of the batch, and sums are taken in another order. On the tiny data the validation bpc
after 3 epochs differs by a few hundredths (0.02 to 0.04 measured); the tolerance is 0.15 bpc,
under the gap a run that doubled the global batch (half the steps) leaves after 3 epochs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from instacap.cli.app import app

pytest_plugins = ["tiny_data"]  # the `tiny` data set fixture

CLI = [sys.executable, "-m", "instacap"]
TRAIN = ["train", "--data", "demo", "--batch-size", "8", "--seed", "3"]
BPC_TOLERANCE = 0.15


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "INSTACAP_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}


def _train(home: Path, *args: str, timeout: float = 240) -> dict:
    done = subprocess.run(
        [*CLI, *TRAIN, *args, "--json"],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _workers_of(home: Path) -> list[int]:
    """Processes still running with this cache (torchrun's workers live in sessions of their own)."""
    mark = f"INSTACAP_HOME={home}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError):
            if mark in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
    return [p for p in found if p != os.getpid()]


@pytest.mark.skipif(sys.platform != "linux", reason="gloo workers are tested on Linux")
def test_two_workers_reach_the_bpc_of_one_process_and_caption(tiny, instacap_home: Path) -> None:
    out = CliRunner().invoke(app, [*TRAIN, "--name", "one", "--epochs", "3", "--json"])
    assert out.exit_code == 0, out.output
    one = json.loads(out.stdout)
    two = _train(instacap_home, "--name", "two", "--epochs", "3", "--nproc", "2")
    assert [e["epoch"] for e in two["epochs"]] == [1, 2, 3]
    assert abs(two["best_val_bpc"] - one["best_val_bpc"]) < BPC_TOLERANCE, (one, two)
    # Only rank 0 wrote: one run folder, the usual files, no second run and no leftovers.
    runs = instacap_home / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["one", "two"]
    lines = (runs / "two" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 and (runs / "two" / "last.pt").is_file()
    # The checkpoint is like any other: captioning with it works, in a fresh process.
    photo = str(tiny.val.images[0])
    done = subprocess.run(
        [*CLI, "caption", photo, "--run", "two", "--n", "2", "--json"],
        env=_env(instacap_home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(done.stdout)
    assert data["run"] == "two" and len(data["photos"][0]["captions"]) == 2
    assert not _workers_of(instacap_home)


def test_a_missing_data_set_fails_before_any_worker_starts(instacap_home: Path) -> None:
    out = CliRunner().invoke(app, ["train", "--data", "nope", "--nproc", "2"])
    assert out.exit_code == 1 and "No data set 'nope'" in out.output
    assert "Traceback" not in out.output


@pytest.mark.skipif(sys.platform != "linux", reason="gloo workers are tested on Linux")
def test_an_error_in_the_workers_is_one_sentence(tiny, instacap_home: Path) -> None:
    # Rank 0 finds nothing to resume; every worker raises the same error, rank 0 says it.
    done = subprocess.run(
        [*CLI, *TRAIN, "--name", "ghost", "--resume", "--nproc", "2"],
        env=_env(instacap_home),
        capture_output=True,
        text=True,
        timeout=240,
    )
    said = " ".join(done.stderr.split())
    assert done.returncode == 1, said[-2000:]
    assert "nothing to resume" in said and "Traceback" not in said and said.count("Error:") == 1
    assert not (instacap_home / "runs" / "ghost").exists()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="gloo workers are tested on Linux")
def test_ctrl_c_stops_every_worker_and_the_run_resumes(tiny, instacap_home: Path) -> None:
    args = [*CLI, *TRAIN, "--name", "stop", "--epochs", "500", "--nproc", "2"]
    proc = subprocess.Popen(
        args, env=_env(instacap_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    metrics = instacap_home / "runs" / "stop" / "metrics.jsonl"
    deadline = time.monotonic() + 180
    while not metrics.is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert metrics.is_file(), proc.communicate()[1][-3000:]
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the command
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "--resume" in err and "Traceback" not in err
    assert not _workers_of(instacap_home)
    done = json.loads(metrics.read_text().splitlines()[-1])["epoch"]
    assert done < 500 and (metrics.parent / "last.pt").is_file()
    # Resuming (with two workers again) continues from there to the end.
    result = _train(instacap_home, "--name", "stop", "--epochs", str(done + 1), "--nproc", "2",
                    "--resume")  # fmt: skip
    assert [e["epoch"] for e in result["epochs"]][-1] == done + 1
