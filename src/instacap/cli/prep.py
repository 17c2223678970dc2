"""`instacap prep`: posts -> image features + caption tokens, cached and incremental."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from instacap import encoders  # torch-free: the registry only describes the networks
from instacap.cli.app import app
from instacap.config import Device, PrepConfig

_D = PrepConfig()

if TYPE_CHECKING:

    class Encoder(str, Enum):
        """The registry's encoder names (built at run time, below)."""

else:
    # The choices of --encoder, as the registry has them, so help lists and shells complete them.
    Encoder = Enum("Encoder", {name: name for name in encoders.names()}, type=str)


@app.command()
def prep(
    # Long because Typer reads every option from this signature: one typed, documented
    # parameter per option. The body itself is parse, call, render.
    ctx: typer.Context,
    demo: Annotated[
        bool, typer.Option("--demo", help="Use the built-in demo posts (data set name 'demo').")
    ] = False,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Data set name; default 'default' ('demo' with --demo)."),
    ] = None,
    accounts: Annotated[
        list[str] | None,
        typer.Option(
            "--accounts",
            "-a",
            help="Only these accounts (repeat, or comma-separated); default all stored posts.",
        ),
    ] = None,
    encoder: Annotated[
        Encoder,
        typer.Option(
            "--encoder",
            "-e",
            help="Image encoder (docs/prep.md compares them). The default reads "
            "real photos with weights installed with instacap; thumbnail needs no weights but "
            "only sees colours and layout.",
        ),
    ] = Encoder(_D.encoder),
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            help="A state_dict file (saved with torch.save) to use instead of the encoder's "
            "own weights.",
            dir_okay=False,
        ),
    ] = None,
    min_count: Annotated[
        int, typer.Option("--min-count", help="Characters seen fewer times become UNK.")
    ] = _D.min_count,
    max_len: Annotated[
        int, typer.Option("--max-len", help="Tokens per caption, BOS and EOS included.")
    ] = _D.max_len,
    val_share: Annotated[
        float, typer.Option("--val-share", help="Share of posts held out for validation.")
    ] = _D.val_share,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the train/validation split.")
    ] = _D.seed,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Photos per encoder forward pass.")
    ] = _D.batch_size,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Decoding processes beside the encoder \\[default: 0 for a CNN on the CPU, "
            "which already uses every core; 2 for thumbnail or with CUDA].",
            show_default=False,
        ),
    ] = _D.workers,
    device: Annotated[
        Device, typer.Option("--device", help="auto, cpu or cuda (for the encoder).")
    ] = Device.auto,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even when nothing changed.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            min=1,
            help="Processes computing the features (torchrun; one per GPU on CUDA), each a "
            "share of the photos, all writing the one feature store (docs/scale.md).",
        ),
    ] = 1,
) -> None:
    """Turn stored posts into a training data set: image features + caption tokens.

    Features are cached per encoder by image content, so rerunning computes only new photos, and
    an interrupted run resumes where it stopped. Unreadable photos are skipped and counted.
    The default encoder (efficientnet_lite0) works offline; torchvision encoders such as resnet50
    download their weights once (see docs/prep.md to place them by hand without network).

    Examples: instacap prep · instacap prep --demo --encoder thumbnail · instacap prep -a natgeo -a nasa
    """
    from instacap import dataset, runtime
    from instacap import demo as demo_data
    from instacap.cli import render
    from instacap.cli import workers as workers_cli

    config = PrepConfig(
        encoder=encoder.value,
        min_count=min_count,
        max_len=max_len,
        val_share=val_share,
        seed=seed,
        batch_size=batch_size,
        workers=workers,
    )
    wanted = [a.strip() for raw in accounts or [] for a in raw.split(",") if a.strip()] or None
    dev = str(runtime.pick_device(device.value)) if encoders.spec(encoder.value).size else "cpu"
    if workers_cli.in_worker():  # one of --nproc's workers: its share of the features, no more
        _share(config, demo, wanted, weights, dev)
        return
    with render.reporting(transient=True) as reporter:
        if demo:  # a fresh cache: the built-in posts first
            demo_data.fill_if_empty(reporter=reporter)
    by_workers = (
        _by_workers(ctx, nproc, encoders.key_for(encoder.value, weights)) if nproc > 1 else 0
    )
    with render.reporting(transient=True) as reporter:
        ds = dataset.build(
            config,
            name=name,
            demo=demo,
            accounts=wanted,
            weights=weights,
            reporter=reporter,
            force=force,
            device=dev,
        )
    summary = {k: v for k, v in ds.info.items() if k not in ("vocab", "config", "account_names")}
    summary["path"] = str(ds.path)
    if by_workers:  # the workers computed them; the build here found them stored
        summary["computed"] += by_workers
        summary["reused"] = max(0, summary["reused"] - by_workers)
    if as_json:
        render.print_json(summary)
        return
    skipped = sum(summary["skipped"].values())
    if summary.get("up_to_date"):
        render.info(
            "Nothing changed since the last prep; the data set is up to date (--force rebuilds)."
        )
    render.out.print(
        f"Data set [bold]{ds.name}[/]: {len(ds.train)} training + {len(ds.val)} validation posts "
        f"from {len(summary['accounts'])} account(s), encoder {ds.encoder} ({ds.feature_dim}-d, "
        f"{summary['precision']}), vocabulary {ds.vocab.size} tokens."
    )
    render.out.print(
        f"Features: {summary['computed']} computed, {summary['reused']} reused"
        + (f", {skipped} photos skipped ({_reasons(summary['skipped'])})" if skipped else "")
        + "."
    )


def _by_workers(ctx: typer.Context, nproc: int, key: str) -> int:
    """Run the workers of `--nproc` (the data set is built here afterwards, by one writer);
    the number of feature rows they added to the store."""
    from instacap import features, paths
    from instacap.cli import workers as workers_cli

    folder = paths.features_dir() / key
    before = features.count_rows(folder) or 0
    workers_cli.run_workers(ctx, nproc)
    return (features.count_rows(folder) or 0) - before


def _share(
    config: PrepConfig, demo: bool, accounts: list[str] | None, weights: Path | None, dev: str
) -> None:
    """This worker's share of the photos' features (`prep --nproc`); rank 0 shows its progress."""
    import torch

    from instacap import dataset
    from instacap.cli import render
    from instacap.cli import workers as workers_cli

    rank, world = workers_cli.rank()
    device = workers_cli.local_device(dev)
    if device.startswith("cuda"):
        torch.cuda.set_device(device)  # pinned batches and autocast on this worker's own GPU
    else:
        torch.set_num_threads(workers_cli.threads())  # the cores shared between the workers
    with render.reporting(transient=True) as reporter:
        dataset.compute_share(config, rank, world, demo, accounts, weights, reporter, device)


def _reasons(skipped: dict[str, int]) -> str:
    return ", ".join(f"{n} {why}" for why, n in sorted(skipped.items(), key=lambda kv: -kv[1]))
