"""`instacap caption`: write captions for photos with a trained run."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from instacap.cli.app import app
from instacap.config import SampleConfig

_S = SampleConfig()


class Switch(str, Enum):
    on = "on"
    off = "off"


@app.command()
def caption(
    # Long because Typer reads every option from this signature: one typed, documented
    # parameter per option. The body itself is parse, call, render.
    photos: Annotated[
        list[Path],
        typer.Argument(help="Photos to caption (JPEG, PNG, WebP, ...).", show_default=False),
    ],
    n: Annotated[int, typer.Option("--n", "-n", help="Captions per photo.")] = _S.n,
    temperature: Annotated[
        float,
        typer.Option(
            "--temperature",
            "-t",
            help="Randomness: lower is safer and plainer, 0 = always the likeliest character.",
        ),
    ] = _S.temperature,
    top_k: Annotated[
        int, typer.Option("--top-k", help="Sample only among the k likeliest characters (0 = off).")
    ] = _S.top_k,
    top_p: Annotated[
        float,
        typer.Option(
            "--top-p",
            help="Nucleus: sample among the likeliest characters covering this probability, in (0, 1].",
        ),
    ] = _S.top_p,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Same seed, same captions (default: different each time)."),
    ] = None,
    run: Annotated[
        str | None, typer.Option("--run", "-r", help="Run to use (default: the newest).")
    ] = None,
    max_len: Annotated[
        int, typer.Option("--max-len", help="Longest caption in characters, plus 2.")
    ] = _S.max_len,
    beam: Annotated[
        int,
        typer.Option(
            "--beam",
            help="Beam search keeping the K likeliest beginnings instead of sampling (0 = sample): "
            "the likeliest captions, alike each other and richer in hashtags.",
        ),
    ] = _S.beam,
    rerank: Annotated[
        Switch,
        typer.Option(
            "--rerank",
            help="on: write 4x --n candidates and keep those the photo explains best (PMI with "
            "the photo); off: the likeliest first.",
        ),
    ] = Switch.on if _S.rerank else Switch.off,
    account: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Write in this account's voice (one the run was trained on; default: any).",
            show_default=False,
        ),
    ] = None,
    hashtags: Annotated[
        int,
        typer.Option(
            "--hashtags",
            min=0,
            help="Also suggest the K likeliest hashtags for each photo, scored.",
        ),
    ] = 0,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Captions with their mean log-probability per character, as JSON."
        ),
    ] = False,
    html_out: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write a page with each photo beside its captions, coloured as here, to "
            "pick one while looking at the photo (one file, opens offline, reads on a phone).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Write captions for photos with a trained run, best (likeliest) first, coloured.

    Hashtags, mentions, emoji and URLs get their own colours; characters the model was unsure of are shaded. Defaults (temperature 0.7, top-p 0.8) favour captions that stay on the photo; raise --temperature for wilder ones. With several photos, --html FILE lays them out as a contact sheet.

    Examples: instacap caption photo.jpg · instacap caption photo.jpg --as natgeo --hashtags 10 · instacap caption *.jpg --n 3 --seed 1 --json · instacap caption *.jpg --html captions.html
    """
    from rich.text import Text

    from instacap import runtime
    from instacap.cli import render
    from instacap.sampling import Captioner, sample_config

    config = sample_config(n=n, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                           max_len=max_len, beam=beam, rerank=rerank == Switch.on)  # fmt: skip
    if html_out is not None:
        from instacap.report import check_target

        check_target(html_out)
    runtime.tune_allocator()  # helps the CNN encoders; costs nothing
    captioner = Captioner.load(run)  # on the CPU: the NumPy network, no torch
    captioner.check_account(account)  # before the photos are encoded
    feats = captioner.features(photos)
    results = captioner.caption_features(feats, account=account, config=config)
    tags = captioner.hashtags(feats, hashtags, account) if hashtags else [[] for _ in photos]
    if html_out is not None:
        from instacap import report

        page = report.captions_page(captioner.run.name, photos, results, _settings(config))
        render.info(f"Wrote {report.write(html_out, page)}: open it in a browser.")
    if as_json:
        render.print_json(
            {
                "run": captioner.run.name,
                "account": account or "any",
                "photos": [
                    {"photo": str(p), "captions": [c.to_json() for c in caps]}
                    | ({"hashtags": [h.to_json() for h in found]} if hashtags else {})
                    for p, caps, found in zip(photos, results, tags, strict=True)
                ],
            }
        )
        return
    for photo, caps, found in zip(photos, results, tags, strict=True):
        if len(photos) > 1:
            render.out.print(Text(str(photo), style="bold"))
        for i, cap in enumerate(caps, 1):
            render.out.print(render.caption_text(cap.tokens, cap.probs, index=i))
        if found:
            line = "  ".join(f"{h.tag} {h.score:.2f}" for h in found)
            render.out.print(render.caption_text(line))
    render.err.print(render.caption_legend())


def _settings(config: SampleConfig) -> str:
    """The decoding settings in a few words, for the --html page."""
    seed = "" if config.seed is None else f", seed {config.seed}"
    how = (
        f"beam {config.beam}"
        if config.beam
        else f"temperature {config.temperature:g}, top-p {config.top_p:g}"
    )
    return how + (", re-ranked by fit with the photo" if config.rerank else "") + seed
