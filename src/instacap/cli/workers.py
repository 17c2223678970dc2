"""`instacap train --nproc N` and `instacap prep --nproc N`: the command run again as N workers
under torchrun, and each worker joining the others (`instacap.distributed` does the work)."""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING

import typer

from instacap.cli.app import EXIT_INTERRUPTED

if TYPE_CHECKING:  # pragma: no cover
    from instacap.distributed import Group


def in_worker() -> bool:
    from instacap import distributed

    return distributed.in_worker()


def threads() -> int:
    from instacap import distributed

    return distributed.worker_threads()


def launch(ctx: typer.Context, nproc: int) -> None:
    """Run the current command again, without --nproc, as `nproc` workers; exit with theirs."""
    run_workers(ctx, nproc)
    raise typer.Exit(0)


def run_workers(ctx: typer.Context, nproc: int) -> None:
    """Run the current command again, without --nproc, as `nproc` workers and wait for them;
    return when all of them succeeded, else exit with their status (130 after Ctrl-C)."""
    import torch.distributed.run  # noqa: F401 - its loggers exist from here on

    from instacap import distributed

    # torchrun's own notes (rendezvous, shutting down on Ctrl-C, which worker failed how) are
    # not the user's business: the workers say what went wrong themselves.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    code, interrupted = distributed.launch(nproc, command_line(ctx))
    if code > 128 and not interrupted:  # killed: the worker could not say so itself
        from instacap.cli import render

        render.error(
            f"A worker was stopped by signal {code - 128}; run the same command again to "
            "continue where the workers stopped."
        )
    if code or interrupted:
        raise typer.Exit(EXIT_INTERRUPTED if interrupted else code)


def rank() -> tuple[int, int]:
    """This worker's rank and the number of workers (0 and 1 outside torchrun)."""
    import os

    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def local_device(device: str) -> str:
    """The device of this worker: its own GPU (by local rank) when `device` is CUDA."""
    import os

    if device == "cuda":
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def join(device: str) -> Group:
    """The workers this process trains with: joined when torchrun started it, else one."""
    from instacap import distributed

    return distributed.start(device) if distributed.in_worker() else distributed.group()


def command_line(ctx: typer.Context, skip: tuple[str, ...] = ("nproc",)) -> list[str]:
    """The command and its options as parsed (`train --epochs 3 ...`), leaving out `skip`."""
    args = [ctx.info_name or ""]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.name in skip or value is None or param.param_type_name != "option":
            continue
        flag = param.opts[0]
        if getattr(param, "is_flag", False):
            if value:
                args.append(flag)
            continue
        for one in value if isinstance(value, list | tuple) else [value]:  # repeated options
            args += [flag, str(one.value if isinstance(one, enum.Enum) else one)]
    return args
