"""Loading a trained run: `load(name, backend=...)` gives a typed `Run` whose network is either the
torch network of `model.build` (training, evaluation, GPUs) or its NumPy twin (captioning on the CPU).

The NumPy path reads meta.json and model.npz and never imports torch (about 4 s on a small CPU,
longer than writing five captions); the torch path is imported only when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Literal, TypeAlias, TypeVar, overload

from instacap import numpy_model
from instacap.accounts import conditioning_dim
from instacap.errors import CheckpointError, InputError, NotReady
from instacap.runs import description
from instacap.runs.description import META_FILE, RunMeta
from instacap.runs.folders import incomplete_names, is_trained, newest, retrain_hint, run_dir
from instacap.runs.folders import run_names as run_names
from instacap.runs.weights import ARRAYS_FILE, MODEL_FILE, load_arrays
from instacap.tokenizer import Vocab

if TYPE_CHECKING:  # types only: torch is imported when a torch run is asked for, not before
    from instacap.encoders import Encoder
    from instacap.model import Network
    from instacap.numpy_model import NumpyModel

Backend = Literal["numpy", "torch"]
M = TypeVar("M", bound="Network | NumpyModel", covariant=True)


@dataclass(frozen=True)
class Run(Generic[M]):
    """A trained run, loaded: its network (a torch `model.Network` or a `NumpyModel`) and its
    description."""

    name: str
    path: Path
    model: M  # eval mode; on the device asked for (torch)
    meta: RunMeta

    @property
    def vocab(self) -> Vocab:
        return self.meta.vocab

    @property
    def encoder(self) -> str:
        return self.meta.encoder

    @property
    def dataset(self) -> str:
        """The name of the data set it trained on."""
        return self.meta.dataset.name


TorchRun: TypeAlias = "Run[Network]"  # training, evaluation, GPUs
NumpyRun: TypeAlias = "Run[NumpyModel]"  # captioning on the CPU
AnyRun: TypeAlias = "TorchRun | NumpyRun"  # what `Captioner` and the quiz accept


def locate(name: str | None) -> tuple[Path, RunMeta]:
    """The folder and description of the named run, the newest when `name` is None.

    A run without a model yet (killed in its first epoch) is refused with the command that
    trains it, never with a message about a missing file."""
    if name is None:
        name = newest()
        if name is None:
            waiting = incomplete_names()
            if waiting:
                hint = retrain_hint(waiting[-1], description.peek(run_dir(waiting[-1])))
                raise NotReady(
                    f"No trained run yet (run {waiting[-1]!r} stopped before its first epoch "
                    f"ended); train it with {hint}."
                )
            raise NotReady(
                "No trained run yet; train one with `instacap train` (or try `instacap demo`)."
            )
    path = run_dir(name)
    if not path.is_dir():
        known = ", ".join(run_names()) or "none yet"
        raise NotReady(
            f"There is no run named {name!r} (runs: {known}); train it with `instacap train --name {name}`."
        )
    if not is_trained(path):
        raise NotReady(
            f"Run {name!r} has no trained model yet (it stopped before its first epoch ended); "
            f"train it with {retrain_hint(name, description.peek(path))}."
        )
    return path, description.read(path)


@overload
def load(
    name: str | None = None, *, backend: Literal["numpy"] = "numpy", device: str = "cpu"
) -> NumpyRun: ...
@overload
def load(
    name: str | None = None, *, backend: Literal["torch"], device: str = "cpu"
) -> TorchRun: ...
@overload
def load(name: str | None = None, *, backend: Backend, device: str = "cpu") -> AnyRun: ...
def load(name: str | None = None, *, backend: Backend = "numpy", device: str = "cpu") -> AnyRun:
    """The named run (the newest when None) with its network: the NumPy twin from model.npz
    (`backend="numpy"`, CPU only, no torch) or the torch model from model.pt in eval mode on
    `device`. Every weights file is checked against meta.json's checksum first; a missing,
    changed or misshapen one is a CheckpointError."""
    path, meta = locate(name)
    if backend == "torch":
        return Run(path.name, path, _torch_model(path, meta, device), meta)
    if backend != "numpy":
        raise ValueError(f"unknown backend {backend!r}")
    return Run(path.name, path, _numpy_model(path, meta), meta)


def _numpy_model(path: Path, meta: RunMeta) -> NumpyModel:
    accepted = meta.hashes("arrays_sha256")
    if accepted is None:
        raise CheckpointError(
            f"{path / META_FILE} records no checksum for {ARRAYS_FILE}; train the run again."
        )
    weights = load_arrays(path / ARRAYS_FILE, accepted)
    try:
        return numpy_model.build(
            meta.model_config, meta.vocab.size, conditioning_dim(meta), weights
        )
    except (TypeError, ValueError, InputError) as exc:
        raise CheckpointError(
            f"{path / ARRAYS_FILE} does not fit the model described in meta.json ({exc}); "
            "train the run again."
        ) from exc


def _torch_model(path: Path, meta: RunMeta, device: str) -> Network:
    from instacap import model as torch_model
    from instacap.runs.checkpoint import apply_weights, load_state

    try:
        net = torch_model.build(meta.model_config, meta.vocab.size, conditioning_dim(meta))
    except (TypeError, ValueError, InputError) as exc:
        raise CheckpointError(
            f"meta.json describes a model this instacap cannot build ({exc}); train the run again."
        ) from exc
    state = load_state(path / MODEL_FILE, meta.hashes("model_sha256"))
    apply_weights(net, state, path / MODEL_FILE)
    net.to(device).eval()
    return net


def open_encoder(meta: RunMeta, device: str = "cpu") -> Encoder:
    """The encoder a run was trained on (with the `prep --weights FILE` it was prepared with),
    refused when its features differ from the ones meta.json recorded from prep."""
    from instacap import encoders

    weights = Path(meta.encoder_weights) if meta.encoder_weights else None
    encoder = encoders.get(meta.encoder, weights=weights, device=device)
    key, sha = meta.encoder_key, meta.encoder_weights_sha256
    got_sha = encoder.weights_sha256
    if (key is not None and encoder.key != key) or (
        sha is not None and got_sha is not None and got_sha != sha
    ):
        where = (
            f"the weights file {meta.encoder_weights} changed since"
            if meta.encoder_weights
            else "its weights differ"
        )
        raise CheckpointError(
            f"Run {meta.name!r} was trained on {key or meta.encoder} features, but {where} "
            f"(the encoder opens as {encoder.key}); restore that file or prep and train again."
        )
    return encoder
