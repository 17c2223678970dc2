"""A run's description: `RunMeta`, what `runs/<name>/meta.json` holds, and its one reader and writer.

meta.json says what a run was trained on and how (settings, encoder and its feature key, vocabulary,
data set), how far it got (metrics) and which weights files belong to it (their SHA-256). It is
written whole, atomically, whenever any of that changes; `read` checks it against this version of
instacap and gives a typed `RunMeta`, `peek` the same without raising (for listings and hints).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from instacap import __version__
from instacap.config import ModelConfig, SampleConfig, TrainConfig
from instacap.errors import CheckpointError, InputError, NotReady
from instacap.files import write_atomic
from instacap.tokenizer import Vocab

if TYPE_CHECKING:  # types only: the data set a run is trained on
    from instacap.dataset import Dataset

FORMAT = 1  # bump when meta.json or the state layout changes incompatibly
META_FILE = "meta.json"
REQUIRED = ("model_config", "vocab", "encoder", "feature_dim")  # a run without them cannot load

C = TypeVar("C")


@dataclass(frozen=True)
class DataSummary:
    """The data set a run trains on, as it was when the run started."""

    name: str = ""
    fingerprint: str | None = None  # dataset.json's: a data set changed since is refused on resume
    max_len: int = 0
    train: int = 0  # captions in each split
    val: int = 0


@dataclass(frozen=True)
class Metrics:
    """How far a run got. Every field but `epochs_done` is None until its first epoch ends."""

    epochs_done: int = 0
    best_epoch: int | None = None  # 1-based; the epoch model.pt holds
    best_val_loss: float | None = None  # nats per token
    best_val_bpc: float | None = None
    last: Mapping[str, Any] | None = None  # the last epoch's line of metrics.jsonl
    stopped_early: bool | None = None  # set once training ends: False ran every epoch

    def to_json(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


@dataclass(frozen=True)
class RunMeta:
    """What meta.json holds. Unknown keys (written by a later change) are kept in `extra` and
    written back unchanged."""

    name: str
    encoder: str  # the registry name (encoders/registry.py)
    feature_dim: int  # 0: a text-only run
    vocab: Vocab
    model_config: ModelConfig
    train_config: TrainConfig = field(default_factory=TrainConfig)
    preset: str = "default"
    created: str = ""  # 2026-01-31T12:00:00+0100
    # The features the run learned from, as prep recorded them: `caption` checks that the encoder
    # it opens gives the same (a --weights file changed since would not).
    encoder_key: str | None = None
    encoder_weights: str | None = None  # a `prep --weights FILE` data set: captions need that file
    encoder_weights_sha256: str | None = None
    dataset: DataSummary = field(default_factory=DataSummary)
    metrics: Metrics = field(default_factory=Metrics)
    model_sha256: str | None = None  # of model.pt, the best epoch (None before it is saved)
    arrays_sha256: str | None = None  # of model.npz, the same weights for NumPy
    # Hashes of weights files being replaced (weights.replace_model): accepted until settled.
    pending_sha256: Mapping[str, str] | None = None
    sample: SampleConfig | None = None  # the run's own default decoding, when it records one
    instacap_version: str = __version__
    format: int = FORMAT
    extra: Mapping[str, Any] = field(default_factory=dict)

    def hashes(self, key: str) -> set[str] | None:
        """Hashes accepted for a weights file (`key`: model_sha256 or arrays_sha256): the recorded
        one and, after a kill while a better epoch was being saved, the pending one; None when
        meta.json records none."""
        found = {getattr(self, key), (self.pending_sha256 or {}).get(key)}
        return {h for h in found if isinstance(h, str)} or None

    def to_json(self) -> dict[str, Any]:
        """meta.json's object, keys in the order instacap has always written them."""
        out: dict[str, Any] = {
            "format": self.format,
            "instacap_version": self.instacap_version,
            "name": self.name,
            "created": self.created,
            "preset": self.preset,
            "model_config": asdict(self.model_config),
            "train_config": asdict(self.train_config),
            "encoder": self.encoder,
            "encoder_weights": self.encoder_weights,
            "encoder_key": self.encoder_key,
            "encoder_weights_sha256": self.encoder_weights_sha256,
            "feature_dim": self.feature_dim,
            "vocab": self.vocab.to_json(),
            "dataset": asdict(self.dataset),
            "metrics": self.metrics.to_json(),
        }
        optional = {
            "model_sha256": self.model_sha256,
            "arrays_sha256": self.arrays_sha256,
            "pending_sha256": dict(self.pending_sha256) if self.pending_sha256 else None,
            "sample": asdict(self.sample) if self.sample else None,
        }
        out |= {k: v for k, v in optional.items() if v is not None}
        return {**out, **{k: v for k, v in self.extra.items() if k not in out}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], name: str) -> RunMeta:
        """The description in meta.json's object; `name` (the folder's) when it records none.
        ValueError, TypeError or KeyError when a field is not what this instacap writes."""
        known = {f.name for f in fields(cls)} - {"extra"}
        pending = data.get("pending_sha256")
        sample = data.get("sample")
        return cls(
            name=_typed(data.get("name", name), str),
            encoder=_typed(data["encoder"], str),
            feature_dim=_typed(data["feature_dim"], int),
            vocab=Vocab.from_json(data["vocab"]),
            model_config=_config(ModelConfig, data["model_config"]),
            train_config=_config(TrainConfig, data.get("train_config", {})),
            preset=_typed(data.get("preset", "default"), str),
            created=_typed(data.get("created", ""), str),
            encoder_key=_optional(data.get("encoder_key"), str),
            encoder_weights=_optional(data.get("encoder_weights"), str),
            encoder_weights_sha256=_optional(data.get("encoder_weights_sha256"), str),
            dataset=_config(DataSummary, data.get("dataset", {})),
            metrics=_config(Metrics, data.get("metrics", {})),
            model_sha256=_optional(data.get("model_sha256"), str),
            arrays_sha256=_optional(data.get("arrays_sha256"), str),
            pending_sha256=None if pending is None else _typed(pending, dict),
            sample=None if sample is None else _config(SampleConfig, sample),
            instacap_version=_typed(data.get("instacap_version", "0"), str),
            format=_typed(data.get("format", 0), int),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _typed(value: Any, kind: type[C]) -> C:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{value!r} is not a {kind.__name__}")
    return value


def _optional(value: Any, kind: type[C]) -> C | None:
    return None if value is None else _typed(value, kind)


def _config(kind: type[C], raw: Any) -> C:
    """A settings dataclass from its JSON object; keys this version does not know are left out."""
    known = {f.name for f in fields(kind)}  # type: ignore[arg-type]  # kind is a dataclass
    return kind(**{k: v for k, v in _typed(raw, dict).items() if k in known})


# -- reading and writing ----------------------------------------------------------------------
def read(run_path: Path) -> RunMeta:
    """meta.json of the run folder `run_path`, checked against this version of instacap."""
    path = run_path / META_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotReady(
            f"Run {run_path.name!r} has no meta.json; train it with `instacap train --name {run_path.name}`."
        ) from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is damaged ({exc}); train the run again.") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not an instacap meta.json; train the run again.")
    saved = str(data.get("instacap_version", "0"))
    saved_format = data.get("format", 0)
    if (isinstance(saved_format, int) and saved_format > FORMAT) or _version_tuple(
        saved
    ) > _version_tuple(__version__):
        raise CheckpointError(
            f"Run {run_path.name!r} was saved by instacap {saved}, newer than this instacap "
            f"{__version__}; upgrade with `pip install -U instacap`."
        )
    for key in REQUIRED:
        if key not in data:
            raise CheckpointError(f"{path} lacks {key!r}; train the run again.")
    try:
        return RunMeta.from_json(data, run_path.name)
    except (ValueError, TypeError, KeyError, InputError) as exc:
        raise CheckpointError(f"{path} is damaged ({exc}); train the run again.") from exc


def peek(run_path: Path) -> RunMeta | None:
    """meta.json of a run folder when it can be read, None otherwise: for listings and hints
    (`status`, the command that trains an incomplete run), never for loading."""
    try:
        return read(run_path)
    except (CheckpointError, NotReady):
        return None


def write(run_path: Path, meta: RunMeta) -> None:
    """Replace meta.json atomically: a crash leaves the previous one, never half a file."""
    text = json.dumps(meta.to_json(), ensure_ascii=False, indent=2) + "\n"
    write_atomic(run_path / META_FILE, text.encode())


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


# -- a new run, and the data set it continues on ----------------------------------------------
def new(name: str, dataset: Dataset, model_config: ModelConfig, train_config: TrainConfig,
        preset: str) -> RunMeta:  # fmt: skip
    """The description of a run about to train its first epoch: what it is trained on and how."""
    info = dataset.info
    return RunMeta(
        name=name,
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        preset=preset,
        model_config=model_config,
        train_config=train_config,
        encoder=dataset.encoder,
        encoder_weights=info.get("weights"),
        encoder_key=info.get("encoder_key"),
        encoder_weights_sha256=info.get("weights_sha256"),
        feature_dim=int(dataset.feature_dim),
        vocab=dataset.vocab,
        dataset=DataSummary(
            name=dataset.name,
            fingerprint=dataset.fingerprint,
            max_len=int(dataset.max_len),
            train=len(dataset.train),
            val=len(dataset.val),
        ),
    )


def check_compatible(meta: RunMeta, dataset: Dataset) -> None:
    """InputError when `dataset` is not what the run was trained on: another encoder, feature
    size or vocabulary."""
    if meta.encoder != dataset.encoder or meta.feature_dim != dataset.feature_dim:
        raise InputError(
            f"Run {meta.name!r} was trained on {meta.encoder!r} features but data set "
            f"{dataset.name!r} uses {dataset.encoder!r}; prep with `--encoder {meta.encoder}` or "
            "train a new run."
        )
    if meta.vocab.tokens != dataset.vocab.tokens:
        raise InputError(
            f"Run {meta.name!r} was trained with another vocabulary than data set {dataset.name!r}; "
            "train a new run on this data set (choose another --name)."
        )
