"""Training on several processes, GPUs or machines: torch.distributed, started by torchrun.

`instacap train --nproc N` runs `launch`, which starts N workers on this machine through
`torch.distributed.run` (torchrun); several machines start the same command line under
`torchrun --nnodes ...` themselves. Each worker runs `instacap train` as usual: torchrun's
environment (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR) makes `start` join the process group
(NCCL on GPUs, gloo on CPUs), and `training.fit` asks `group()` at the few places where workers
must act together. Without torchrun, `group()` is a group of one whose methods change nothing.

How the work is shared (the same global batch and learning rate whatever N is):
- every epoch's batches are drawn exactly as on one process (`batching.epoch_batches`, length
  buckets included); each worker takes every N-th caption of each batch (`share`), so the
  workers' parts are of similar length and together are the one-process batch;
- after backward, each worker's gradient is weighted by its number of target tokens and the
  gradients are summed over all workers and divided by the total (`reduce`): the model's loss is
  a mean over a batch's tokens, so this is exactly the one-process gradient, up to rounding.
  (The model learns through `model.loss`, not `forward`, so DistributedDataParallel's hooks
  would never run: the gradients are all-reduced here, in one flat buffer per step, which is
  what DDP does for a model this size.) Every worker then clips and steps the same gradient;
- the validation pass runs whole on every worker (it is the same on each, so every worker agrees
  on the best epoch and early stopping without another message);
- rank 0 alone writes the run folder: the others write theirs to a scratch folder that is
  deleted at exit, and take rank 0's weights, optimiser state and position at the start (so a
  resumed run needs last.pt on rank 0's machine only);
- Ctrl-C: each worker's flag travels with the gradients, so all stop after the same batch and
  rank 0 saves last.pt there, as one process would.
"""

from __future__ import annotations

import atexit
import os
import pickle
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from instacap.errors import InputError

T = TypeVar("T")
P = TypeVar("P")  # training's position: rank 0's is every worker's
_MIRRORED = ("meta.json", "metrics.jsonl")  # rank 0's run files the others' scratch copies
_EXIT_INTERRUPTED = 130  # what `instacap train` exits with after Ctrl-C


def in_worker() -> bool:
    """Whether this process is one of several that torchrun started."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def worker_threads() -> int:
    """CPU threads for one of the workers on this machine: the cores shared between them."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, (os.cpu_count() or 1) // max(local, 1))


def torchrun_args(nproc: int, args: list[str]) -> list[str]:
    """torchrun's arguments for `nproc` workers of `instacap <args>` on this machine; only rank
    0's output is shown (the others would say the same)."""
    return ["--standalone", f"--nproc-per-node={nproc}", "--local-ranks-filter=0",
            "-m", "instacap", *args]  # fmt: skip


def launch(nproc: int, args: list[str]) -> tuple[int, bool]:
    """Run `instacap <args>` as `nproc` workers through torchrun and wait for them; returns
    (exit status, whether Ctrl-C stopped them).

    torchrun runs in this process and its workers in sessions of their own, so Ctrl-C reaches
    them once, from torchrun: they agree to stop after the same batch and rank 0 saves last.pt
    there. A worker still running 30 s later is killed.
    """
    if nproc < 1:
        raise InputError(f"--nproc must be 1 or more, not {nproc}.")
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    # torchrun would set 1 and say so; each worker sets its own share of the cores anyway.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    options = get_args_parser().parse_args(torchrun_args(nproc, args))
    try:
        run(options)
    except ChildFailedError as exc:
        # The workers' own exit status (rank 0's first): the others were stopped by a signal.
        # When a signal ended them all (a kill), 128 + its number, as a shell reports it.
        failures = [f.exitcode for _, f in sorted(exc.failures.items())]
        # Once one worker fails, torchrun stops the others with SIGTERM: the signal that ended
        # the first one (a kill, the out-of-memory killer) is the one to report.
        signals = sorted((c for c in failures if c < 0), key=lambda c: c == -signal.SIGTERM)
        codes = [c for c in failures if c > 0] or [128 - c for c in signals] or [1]
        return codes[0], codes[0] == _EXIT_INTERRUPTED
    except SignalException:
        return _EXIT_INTERRUPTED, True
    return 0, False


class Group:
    """The workers training one model; a group of one (`rank` 0, `world` 1) changes nothing."""

    def __init__(self, rank: int = 0, world: int = 1, device: str = "cpu") -> None:
        self.rank, self.world, self.device = rank, world, device
        self.main = rank == 0
        self._empty = False  # this worker's part of the current batch is empty (see share)
        self._local_stop: Callable[[], bool] = lambda: False
        self._stop = False

    def agree(self, make: Callable[[], T]) -> T:
        """`make()` run on rank 0, its result (or its exception) handed to every worker."""
        if self.world == 1:
            return make()
        payload: list[Any] = [None]
        if self.main:
            try:
                payload[0] = ("ok", make())
            except Exception as exc:  # every worker raises it, so all stop alike
                payload[0] = ("error", exc if _picklable(exc) else RuntimeError(str(exc)))
        _broadcast(payload)
        kind, value = payload[0]
        if kind == "error":
            raise value
        return value

    def run_dir(self, path: Path) -> Path:
        """Where this worker writes the run: `path` on rank 0, a scratch copy of its small files
        elsewhere (deleted at exit), so that only rank 0 writes the run folder."""
        files = self.agree(lambda: {n: (path / n).read_bytes() for n in _MIRRORED
                                    if (path / n).is_file()})  # fmt: skip
        if self.main:
            return path
        scratch = Path(tempfile.mkdtemp(prefix=f"instacap-rank{self.rank}-")) / path.name
        scratch.mkdir()
        atexit.register(shutil.rmtree, scratch.parent, True)
        for name, data in files.items():
            (scratch / name).write_bytes(data)
        return scratch

    def start_state(self, model: Any, opt: Any, load: Callable[[], P]) -> P:
        """The position training starts from (`load()`: a new one, or last.pt's, which also
        loads the weights and optimiser), taken on rank 0 and handed with its weights and
        optimiser state to every worker: the same model everywhere, and a resumed run needs
        last.pt on rank 0's machine only."""
        if self.world == 1:
            return load()
        import torch

        def rank0() -> tuple[Any, Any, P]:
            pos = load()
            return _to_cpu(model.state_dict()), _to_cpu(opt.state_dict()), pos

        weights, opt_state, pos = self.agree(rank0)
        if not self.main:
            model.load_state_dict(weights)
            opt.load_state_dict(opt_state)
            # Different dropout masks on each worker, as one process would draw for its batch.
            torch.manual_seed(torch.initial_seed() + self.rank)
        return pos

    def share(self, idx: np.ndarray) -> np.ndarray:
        """This worker's part of a batch: every `world`-th caption, from its `rank`-th on.

        Batches are cut from length-sorted buckets, so striding gives every worker captions of
        the same lengths. A batch smaller than the group leaves some workers none: they run one
        caption with weight 0 so that the collective still gets their (zero) gradient."""
        if self.world == 1:
            return idx
        part = idx[self.rank :: self.world]
        self._empty = len(part) == 0
        return idx[:1] if self._empty else part

    def reduce(self, model: Any, loss: Any, targets: Any) -> tuple[float, int]:
        """After backward of `loss` (the mean over the real tokens of `targets`, [B, T], 0 = pad):
        the gradient of the whole batch on every worker (token-weighted sum over workers / total
        tokens), and the batch's mean loss and number of target tokens."""
        loss, tokens = float(loss.detach()), int((targets != 0).sum())
        if self.world == 1:
            return loss, tokens
        import torch
        import torch.distributed as dist

        weight = 0 if self._empty else tokens
        params = [p for p in model.parameters() if p.requires_grad]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) * weight for g in grads])  # [sum of parameter sizes]
        local = [weight, loss * weight, float(self._local_stop())]
        flat = torch.cat([flat, torch.tensor(local, dtype=flat.dtype, device=flat.device)])
        dist.all_reduce(flat)
        total, loss_sum, stops = (float(v) for v in flat[-3:].tolist())
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = (flat[offset : offset + n] / total).view_as(p)
            offset += n
        self._stop = stops > 0
        return loss_sum / total, round(total)

    @contextmanager
    def agreed_stop(
        self, flag: AbstractContextManager[Callable[[], bool]]
    ) -> Iterator[Callable[[], bool]]:
        """`flag` (a Ctrl-C flag's context) made one all workers agree on: this worker's own is
        handed round with the gradients of each step, and any worker's stops them all after
        the same batch."""
        with flag as local:
            if self.world == 1:
                yield local
                return
            self._local_stop = local
            yield lambda: self._stop


_group = Group()


def group() -> Group:
    """The workers this process trains with (a group of one outside torchrun)."""
    return _group


def start(device: str = "auto") -> Group:
    """Join the workers torchrun started (its environment says who and where): NCCL with one GPU
    per worker when CUDA is used, gloo on CPUs."""
    global _group
    import torch
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    cuda = device != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
        # Left to the interpreter's teardown, gloo's threads can abort the process (SIGABRT,
        # "terminate called without an active exception") after the worker has said its error.
        atexit.register(stop)
    _group = Group(rank, world, "cuda" if cuda else "cpu")
    return _group


def stop() -> None:
    """Leave the process group (at the end of a worker's command)."""
    global _group
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    _group = Group()


def _broadcast(payload: list[Any]) -> None:
    import torch.distributed as dist

    dist.broadcast_object_list(payload, src=0)


def _picklable(exc: BaseException) -> bool:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return False
    return True


def _to_cpu(value: Any) -> Any:
    """`value` with every tensor in it moved to the CPU (a broadcast object is unpickled on the
    device it was saved from, which is not every worker's)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value
