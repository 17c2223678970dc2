"""A run's weights files and their checksums, without torch: `model.npz` (NumPy arrays) written and
read, and any weights file checked against the SHA-256 that meta.json records.

`model.pt` holds the best epoch as a torch state dict and `model.npz` the same weights as NumPy
arrays, so captioning can start without importing torch; both are replaced together through
`replace_model`, whose order of writes keeps every file one that meta.json accepts, whenever the
process is killed. (`runs/checkpoint.py` has the torch side: model.pt's bytes and last.pt.)
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from instacap.errors import CheckpointError
from instacap.files import sha256_of, write_atomic
from instacap.runs import description
from instacap.runs.description import RunMeta

MODEL_FILE, ARRAYS_FILE, LAST_FILE = "model.pt", "model.npz", "last.pt"
# The hashtag head and reference photos (heads.py writes them; a run starting over drops them).
HEADS_FILE, HEADS_META = "heads.npz", "heads.json"
HASH_KEYS = {MODEL_FILE: "model_sha256", ARRAYS_FILE: "arrays_sha256"}


def read_checked(path: Path, expect_sha256: str | Collection[str] | None) -> bytes:
    """The bytes of a weights file, refused when they differ from the hash meta.json recorded
    (`expect_sha256` may list several accepted hashes: see `RunMeta.hashes`)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; train the run again.") from None
    accepted = {expect_sha256} if isinstance(expect_sha256, str) else expect_sha256
    if accepted is not None and hashlib.sha256(data).hexdigest() not in accepted:
        raise CheckpointError(
            f"{path} does not match the checksum in meta.json (changed or damaged after training); "
            "train the run again."
        )
    return data


def replace_model(path: Path, meta: RunMeta, files: Mapping[str, bytes]) -> RunMeta:
    """Replace the run's weights files (name -> bytes) and return `meta` naming their hashes.

    meta.json first lists the new hashes as pending, then each file is replaced: a kill at any
    moment leaves every weights file one that meta.json accepts. The caller writes the returned
    description, which has no pending entry."""
    hashes = {HASH_KEYS[name]: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    description.write(path, replace(meta, pending_sha256=hashes))
    for name, data in files.items():
        write_atomic(path / name, data)
    return _with_hashes(meta, hashes)


def settle_pending(path: Path) -> RunMeta:
    """meta.json of a run whose save of a better epoch was cut short (see `replace_model`), with
    the pending hashes of the files that were written promoted and the entry dropped."""
    meta = description.read(path)
    pending = meta.pending_sha256 or {}
    settled = {
        key: want
        for name, key in HASH_KEYS.items()
        if isinstance(want := pending.get(key), str)
        and (path / name).is_file()
        and sha256_of(path / name) == want
    }
    return _with_hashes(meta, settled)


def _with_hashes(meta: RunMeta, hashes: Mapping[str, str]) -> RunMeta:
    """`meta` recording `hashes` (model_sha256, arrays_sha256: those given), nothing pending."""
    return replace(
        meta,
        pending_sha256=None,
        model_sha256=hashes.get("model_sha256", meta.model_sha256),
        arrays_sha256=hashes.get("arrays_sha256", meta.arrays_sha256),
    )


def arrays_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """float32 arrays as the bytes of an .npz (model.npz)."""
    buf = io.BytesIO()
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
    np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub mistypes **kwds
    return buf.getvalue()


def load_arrays(path: Path, expect_sha256: Collection[str] | None) -> dict[str, np.ndarray]:
    """Arrays saved by `arrays_bytes`; pickled objects are refused, never run."""
    data = read_checked(path, expect_sha256)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ValueError as exc:  # numpy's answer to an object array with allow_pickle=False
        raise CheckpointError(
            f"{path} holds something other than model weights and was refused without running it; "
            "only use runs written by instacap."
        ) from exc
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CheckpointError(
            f"{path} is truncated or damaged ({exc}); train the run again."
        ) from exc
