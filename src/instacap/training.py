"""Fitting a caption model to a data set: `training.fit(dataset, ...)` writes `runs/<name>/`.

AdamW with gradient clipping on the masked cross-entropy; a validation pass each epoch (loss and
bits per character); `model.pt` keeps the best epoch by validation loss, `last.pt` everything needed
to continue exactly (`resume=True`), including the position inside an interrupted epoch.

Speed: real captions are far shorter than the 150-token cap, so by default batches are drawn from
buckets of similar length and cut to their longest caption: the LSTM never runs over padding that
only the mask would throw away. The original recipe (`--preset original`) pads everything to 150.

Long because a run's whole life (start, epochs, saving, Ctrl-C, resume) is kept in one place; what
stands alone (trainplan, batching, schedule, sizing, distributed, heads) has modules of its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from instacap import accounts, distributed, heads, runs, runtime, schedule, sizing
from instacap.batching import epoch_batches, split_tensors
from instacap.config import ModelConfig, SampleConfig, TrainConfig
from instacap.dataset import Dataset
from instacap.errors import CheckpointError, DiskFull
from instacap.files import on_full_disk, remove_temp_files
from instacap.model import Network, build, token_nll
from instacap.progress import SILENT, Reporter
from instacap.runs import LAST_FILE, META_FILE, Metrics, RunMeta
from instacap.runs.checkpoint import apply_weights, load_state, model_files, save_state
from instacap.sampling import Caption, generate
from instacap.stopping import HardStop, stop_flag
from instacap.stopping import Interrupted as Interrupted  # part of training's API
from instacap.trainplan import check_data, default_name, plan

VAL_BATCH = 256  # validation needs no gradients: bigger batches are cheaper


@dataclass(frozen=True)
class EpochResult:
    epoch: int  # 1-based
    epochs: int
    train_loss: float
    val_loss: float
    val_bpc: float
    captions_per_s: float
    seconds: float
    best: bool  # this epoch became model.pt
    sample: Caption | None  # one caption for a fixed validation photo
    sample_original: str  # that photo's own caption

    def to_json(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "train_loss": round(self.train_loss, 5),
            "val_loss": round(self.val_loss, 5),
            "val_bpc": round(self.val_bpc, 5),
            "captions_per_s": round(self.captions_per_s, 1),
            "seconds": round(self.seconds, 2),
            "best": self.best,
            "sample": self.sample.text if self.sample else None,
        }


@dataclass(frozen=True)
class FitResult:
    name: str
    path: Path
    history: list[dict[str, Any]]
    best_epoch: int
    best_val_loss: float
    best_val_bpc: float
    stopped_early: bool


@dataclass
class _Position:
    """Where training stands; everything in last.pt besides weights and optimiser."""

    epoch: int = 0  # 0-based epoch in progress
    batch: int = 0  # batches of that epoch already applied
    loss_sum: float = 0.0  # nats summed over this epoch's real target tokens
    tokens: int = 0
    captions: int = 0
    seconds: float = 0.0
    best_val_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def fit(
    dataset: Dataset,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig = TrainConfig(),
    name: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    preset: str = "default",
    reporter: Reporter = SILENT,
    on_epoch: Callable[[EpochResult], None] | None = None,
) -> FitResult:
    """Train on `dataset` (an `instacap.dataset.Dataset`) into `runs/<name>/`.

    `model_config` None picks the network from the data's size (`--size auto`, sizing.py); a
    given one must match a run being continued. `train_config.lr` None is the size's own.

    `resume=True` continues the run from last.pt (the given train_config's epochs and patience
    apply; the rest comes from the run). Ctrl-C saves last.pt at the last finished batch and
    re-raises KeyboardInterrupt; running again with `resume=True` continues bit for bit.

    A run killed before its first checkpoint (only meta.json) starts again from epoch 1, with or
    without `resume`; an unfinished run asked for again with the same settings continues from
    last.pt (see `trainplan.plan`). `reporter.note` says which happened.
    """
    check_data(dataset)
    runtime.tune_allocator()
    torch.set_num_threads(train_config.threads or runtime.cpu_threads())
    if name is None:  # under torchrun, rank 0 decides (and alone writes the run): distributed.py
        name = distributed.group().agree(lambda: (runs.latest_started() if resume else None)
                                         or default_name(dataset.name))  # fmt: skip
    path = runs.run_dir(name)
    device = runtime.pick_device(train_config.device)
    mode, model_config, train_config, preset = distributed.group().agree(lambda: plan(
        path, name, dataset, *sizing.choose(dataset, model_config, train_config, path, device,
        starting_over=overwrite and not resume), preset, resume, overwrite, reporter))  # fmt: skip
    path = distributed.group().run_dir(path)  # a scratch folder on ranks other than 0
    if mode == "done":
        return _finished(name, path)
    resume = mode == "resume"
    created = not (path / META_FILE).exists()
    remove_temp_files(path)  # of a kill while a file of this run was being written
    try:
        with on_full_disk(path):
            return _fit(dataset, model_config, train_config, name, path, device, resume, preset,
                        reporter, on_epoch)  # fmt: skip
    except DiskFull:
        if created and not runs.has_checkpoint(path):
            runs.discard(path)  # nothing to keep: leave no run behind
        raise


def _fit(dataset: Dataset, model_config: ModelConfig, train_config: TrainConfig, name: str,
         path: Path, device: torch.device, resume: bool, preset: str, reporter: Reporter,
         on_epoch: Callable[[EpochResult], None] | None) -> FitResult:  # fmt: skip
    """`fit` once the run's folder and settings are settled."""
    last = path / LAST_FILE

    runtime.seed_everything(train_config.seed)
    table = accounts.for_training(dataset.train.accounts)  # account style: accounts.py
    model = build(model_config, dataset.vocab.size, accounts.width(dataset.feature_dim, table))
    model = model.to(device)
    opt = torch.optim.AdamW(
        # The rate is set before every step by the schedule (schedule.py).
        model.parameters(),
        lr=train_config.lr or 0.0,
        weight_decay=train_config.weight_decay,
    )
    restore = (lambda: _restore(last, model, opt, device)) if resume else _Position  # rank 0's
    pos = distributed.group().start_state(model, opt, restore)  # the same on every worker
    meta = runs.new_meta(name, dataset, model_config, train_config, preset)
    if pos.history:
        meta = replace(runs.settle_pending(path), train_config=train_config)
    runs.write_meta(path, meta := accounts.record(meta, table))

    trainer = _Trainer(dataset, model, opt, train_config, device, reporter)
    stopped_early = False
    with distributed.group().agreed_stop(stop_flag()) as interrupted:
        try:
            while pos.epoch < train_config.epochs:
                result = trainer.epoch(pos, interrupted)
                meta = _save_epoch(path, meta, model, opt, pos, result)
                if on_epoch is not None:
                    on_epoch(result)
                if train_config.patience and pos.bad_epochs >= train_config.patience:
                    stopped_early = True
                    break
                if interrupted():
                    raise KeyboardInterrupt
        except HardStop:
            raise Interrupted(name) from None  # mid-step: keep the last.pt of the last epoch
        except KeyboardInterrupt:
            _save_last(path / LAST_FILE, model, opt, pos)
            raise Interrupted(name) from None
    heads.build(path, dataset, train_config.seed)  # hashtag head, reference photos
    runs.write_meta(path, replace(meta, metrics=replace(meta.metrics, stopped_early=stopped_early)))
    return FitResult(
        name=name,
        path=path,
        history=list(pos.history),
        best_epoch=pos.best_epoch,
        best_val_loss=pos.best_val_loss,
        best_val_bpc=pos.best_val_loss / math.log(2),
        stopped_early=stopped_early,
    )


def _finished(name: str, path: Path) -> FitResult:
    """The result of a run that has already finished, read back from its files."""
    metrics = runs.read_meta(path).metrics
    best_loss = math.nan if metrics.best_val_loss is None else metrics.best_val_loss
    return FitResult(
        name=name,
        path=path,
        history=runs.read_history(path),
        best_epoch=metrics.best_epoch or 0,
        best_val_loss=best_loss,
        best_val_bpc=best_loss / math.log(2),
        stopped_early=bool(metrics.stopped_early),
    )


class _Trainer:
    """One epoch of batches plus the validation pass, on tensors prepared once."""

    def __init__(self, dataset: Dataset, model: Network, opt: Any, config: TrainConfig,
                 device: torch.device, reporter: Reporter) -> None:  # fmt: skip
        self.model, self.opt, self.config, self.device = model, opt, config, device
        self.reporter = reporter
        self.vocab = dataset.vocab
        self.train, self.val = split_tensors(dataset, config.seed)
        self.sample_idx = 0  # a fixed validation photo for the per-epoch sample
        self.sample_original = dataset.val.captions[0]
        # Optimiser steps over all epochs, for the learning-rate schedule (epochs are equal size).
        per_epoch = len(epoch_batches(self.train.lengths, config.batch_size, config.bucket, 0, 0))
        self.steps_per_epoch, self.total_steps = per_epoch, per_epoch * config.epochs
        # A batch's target tokens on average (each caption's tokens but BOS): see `_weigh`.
        self.batch_tokens = max(float((self.train.lengths - 1).sum()) / max(per_epoch, 1), 1.0)
        use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        # bf16 autocast on CUDA only: the CPU LSTM kernels have no fast bf16 path.
        self.autocast = (
            (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16 else nullcontext
        )

    def epoch(self, pos: _Position, interrupted: Callable[[], bool]) -> EpochResult:
        cfg = self.config
        batches = epoch_batches(self.train.lengths, cfg.batch_size, cfg.bucket, cfg.seed, pos.epoch)
        task = f"epoch {pos.epoch + 1}/{cfg.epochs}"
        self.reporter.start(task, total=len(batches))
        if pos.batch:
            self.reporter.advance(task, pos.batch)
        self.model.train()
        for k in range(pos.batch, len(batches)):
            t0 = time.perf_counter()
            loss, ntok = self._step(batches[k], pos.epoch * self.steps_per_epoch + k)
            pos.seconds += time.perf_counter() - t0
            pos.batch = k + 1
            pos.loss_sum += loss * ntok
            pos.tokens += ntok
            pos.captions += len(batches[k])
            self.reporter.advance(
                task,
                1,
                loss=pos.loss_sum / max(pos.tokens, 1),
                cap_s=int(pos.captions / max(pos.seconds, 1e-9)),
            )
            if interrupted():
                raise KeyboardInterrupt
        val_loss = self.validate()
        sample = self.sample()
        result = EpochResult(
            epoch=pos.epoch + 1,
            epochs=cfg.epochs,
            train_loss=pos.loss_sum / max(pos.tokens, 1),
            val_loss=val_loss,
            val_bpc=val_loss / math.log(2),
            captions_per_s=pos.captions / max(pos.seconds, 1e-9),
            seconds=pos.seconds,
            best=val_loss < pos.best_val_loss,
            sample=sample,
            sample_original=self.sample_original,
        )
        self.reporter.advance(task, 0, loss=result.train_loss, val_bpc=result.val_bpc,
                              cap_s=int(result.captions_per_s))  # fmt: skip
        return result

    def _step(self, idx: np.ndarray, step: int = 0) -> tuple[float, int]:
        """One optimiser step on the captions `idx`, the `step`-th of training (0-based)."""
        lr = schedule.learning_rate(step, self.total_steps, self.config)
        for group in self.opt.param_groups:
            group["lr"] = lr
        idx = distributed.group().share(idx)  # this worker's part of the batch (alone: all)
        feats, inputs, targets = self.train.batch(idx, trim=self.config.bucket, device=self.device)
        with self.autocast():
            loss = self.model.loss(feats, inputs, targets)  # mean over real target tokens
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        done = distributed.group().reduce(self.model, loss, targets)  # the whole batch's gradient
        if self.config.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        if self.config.weigh_tokens:
            self._weigh(done[1])
        self.opt.step()
        return done

    @torch.no_grad()
    def _weigh(self, tokens: int) -> None:
        """Scale the batch's gradient by its target tokens over an average batch's.

        Length buckets put short captions together, and a batch's loss is a mean over its own
        tokens: unweighted, a token of a 10-character caption counts several times what one of
        a 60-character caption does, and the network learns to end captions early (on the demo
        data, at half the data's length and with a third of its hashtags; docs/quality.md).
        Weighted, every token counts the same. After clipping, which would undo the weight."""
        weight = tokens / self.batch_tokens
        for p in self.model.parameters():
            if p.grad is not None:
                p.grad.mul_(weight)

    @torch.no_grad()
    def validate(self) -> float:
        """Mean NLL (nats) per real validation token: BOS excluded, EOS included."""
        self.model.eval()
        order = np.argsort(self.val.lengths, kind="stable")
        total, count = 0.0, 0
        for s in range(0, len(order), VAL_BATCH):
            feats, inputs, targets = self.val.batch(order[s : s + VAL_BATCH], True, self.device)
            with self.autocast():
                logits, _ = self.model(feats, inputs)
            nll, n = token_nll(logits, targets)
            total, count = total + float(nll), count + n
        self.model.train()
        return total / max(count, 1)

    def sample(self) -> Caption | None:
        feats = self.val.feats_of(np.array([self.sample_idx]))
        config = SampleConfig(n=1, seed=self.config.seed, max_len=self.train.ids.shape[1])
        return generate(self.model, self.vocab, feats.numpy(), config)[0][0]


# -- saving -----------------------------------------------------------------------------------
def _save_epoch(path: Path, meta: RunMeta, model: Network, opt: Any,
                pos: _Position, r: EpochResult) -> RunMeta:  # fmt: skip
    """Epoch finished: model.pt if best, then last.pt, meta.json and metrics.jsonl.

    last.pt comes before meta.json counts the epoch: a run that meta.json calls trained can
    always be continued, and one killed before it has nothing a restart would lose."""
    pos.history.append(r.to_json())
    if r.best:
        pos.best_val_loss, pos.best_epoch, pos.bad_epochs = r.val_loss, r.epoch, 0
        meta = runs.replace_model(path, meta, model_files(model))
    else:
        pos.bad_epochs += 1
    metrics = Metrics(
        epochs_done=r.epoch,
        best_epoch=pos.best_epoch,
        best_val_loss=round(pos.best_val_loss, 5),
        best_val_bpc=round(pos.best_val_loss / math.log(2), 5),
        last=r.to_json(),
    )
    meta = replace(meta, metrics=metrics)
    pos.epoch, pos.batch = pos.epoch + 1, 0
    pos.loss_sum, pos.tokens, pos.captions, pos.seconds = 0.0, 0, 0, 0.0
    _save_last(path / LAST_FILE, model, opt, pos)
    runs.write_meta(path, meta)
    runs.write_history(path, pos.history)
    return meta


def _save_last(path: Path, model: Network, opt: Any, pos: _Position) -> None:
    state = {
        "format": runs.FORMAT,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "position": asdict(pos),
        "rng": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    save_state(path, state)


def _restore(path: Path, model: Network, opt: Any, device: torch.device) -> _Position:
    state = load_state(path)
    try:
        apply_weights(model, state["model"], path)
        opt.load_state_dict(state["optimizer"])
        pos = _Position(**state["position"])
        torch.set_rng_state(state["rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path} cannot be resumed ({exc}); start a new run.") from exc
    return pos
