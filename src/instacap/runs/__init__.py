"""Runs: the one owner of `runs/<name>/`, which creates, overwrites, describes and loads a run.

A run folder holds `meta.json` (its description: `RunMeta`), `model.pt` (torch state dict of the
best epoch), `model.npz` (the same weights as NumPy arrays, so captioning can start without
importing torch), `last.pt` (for `--resume`) and `metrics.jsonl` (one line per epoch). Every file
is written to a temporary name and renamed, so a crash leaves the previous version, never half a
file; meta.json records the weights' SHA-256 so a file changed after training is refused.

One job a module: `folders` (where runs are, which exist, clearing one), `description`
(meta.json), `weights` (model.npz and the checksums), `history` (metrics.jsonl), `loading`
(`load` gives a typed `Run`) and `checkpoint` (the torch files, imported only where torch is:
`import instacap.runs` never imports it).
"""

from __future__ import annotations

from instacap.runs.description import FORMAT, META_FILE, DataSummary, Metrics, RunMeta
from instacap.runs.description import check_compatible as check_compatible
from instacap.runs.description import new as new_meta
from instacap.runs.description import peek as peek_meta
from instacap.runs.description import read as read_meta
from instacap.runs.description import write as write_meta
from instacap.runs.folders import (
    clear,
    discard,
    has_checkpoint,
    incomplete_names,
    is_trained,
    latest_started,
    newest,
    retrain_hint,
    run_dir,
    run_names,
)
from instacap.runs.history import METRICS_FILE
from instacap.runs.history import read as read_history
from instacap.runs.history import write as write_history
from instacap.runs.loading import (
    AnyRun,
    Backend,
    NumpyRun,
    Run,
    TorchRun,
    load,
    locate,
    open_encoder,
)
from instacap.runs.weights import (
    ARRAYS_FILE,
    HEADS_FILE,
    HEADS_META,
    LAST_FILE,
    MODEL_FILE,
    arrays_bytes,
    load_arrays,
    read_checked,
    replace_model,
    settle_pending,
)

__all__ = [
    "ARRAYS_FILE",
    "FORMAT",
    "HEADS_FILE",
    "HEADS_META",
    "LAST_FILE",
    "META_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "AnyRun",
    "Backend",
    "DataSummary",
    "Metrics",
    "NumpyRun",
    "Run",
    "RunMeta",
    "TorchRun",
    "arrays_bytes",
    "check_compatible",
    "clear",
    "discard",
    "has_checkpoint",
    "incomplete_names",
    "is_trained",
    "latest_started",
    "load",
    "load_arrays",
    "locate",
    "new_meta",
    "newest",
    "open_encoder",
    "peek_meta",
    "read_checked",
    "read_history",
    "read_meta",
    "replace_model",
    "retrain_hint",
    "run_dir",
    "run_names",
    "settle_pending",
    "write_history",
    "write_meta",
]
