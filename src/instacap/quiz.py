"""A blind "real or generated?" quiz: people judge the tone that no number captures.

Each round shows a validation photo the run never trained on with two captions in random order:
its real one and one the run wrote with its default decoding. The player says which one a person
wrote. The fooling rate is the share of answered rounds where the generated caption was picked;
50% means people cannot tell the run's captions from real ones.

`choose` is pure so that it can be checked on hand-made inputs; `prepare` wires it to a saved run
and `play` asks the rounds. The answers, the fooling rate and `runs/<name>/quiz.jsonl` are
`instacap.quizlog`'s (offered here too): every finished round is one line of that file, so quizzes
by several people or on several days add up.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from instacap.errors import InputError, NotReady
from instacap.progress import SILENT, Reporter
from instacap.quizlog import QUIZ_FILE as QUIZ_FILE
from instacap.quizlog import Z95 as Z95
from instacap.quizlog import Result as Result
from instacap.quizlog import Round as Round
from instacap.quizlog import Summary as Summary
from instacap.quizlog import answer as answer
from instacap.quizlog import model_id as model_id
from instacap.quizlog import pooled as pooled
from instacap.quizlog import quiz_file as quiz_file
from instacap.quizlog import read as read
from instacap.quizlog import record as record
from instacap.quizlog import summarize as summarize
from instacap.quizlog import wilson as wilson

if TYPE_CHECKING:  # pragma: no cover
    from instacap.evalpool import Pool
    from instacap.runs import NumpyRun

ROUNDS = 20  # rounds per quiz by default: about five minutes, an interval of about ±20 points
ATTEMPTS = 5  # captions written per photo before the photo is left out as only writing copies

# ----------------------------------------------------------------------------- dealing rounds


def choose(
    candidates: Sequence[int],
    write: Callable[[int, int], str],
    is_copy: Callable[[int, str], bool],
    rounds: int,
    attempts: int = ATTEMPTS,
) -> tuple[list[tuple[int, str]], int]:
    """Up to `rounds` (photo, generated caption) pairs from `candidates`, in their order, each
    photo at most once.

    `write(photo, attempt)` writes a caption for a photo (attempt 0, 1, ... seed it differently);
    a caption for which `is_copy(photo, caption)` holds is written again, up to `attempts` times,
    and after that the photo is left out: a copied caption is a real caption, not the run's own.
    Returns the pairs and how many photos were left out.
    """
    chosen: list[tuple[int, str]] = []
    left_out = 0
    for photo in candidates:
        if len(chosen) >= rounds:
            break
        for attempt in range(attempts):
            text = write(photo, attempt)
            if not is_copy(photo, text):
                chosen.append((photo, text))
                break
        else:
            left_out += 1
    return chosen, left_out


def _subseed(*parts: int) -> int:
    """A 63-bit seed from a tuple of integers (independent streams per photo and attempt)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(2, np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class Quiz:
    """The rounds dealt for one quiz on a run."""

    run: str
    path: Path  # the run's folder, where quiz.jsonl lives
    model: str  # model_id of the run's weights
    seed: int
    rounds: tuple[Round, ...]
    candidates: int  # validation photos the rounds could come from
    left_out: int  # photos left out because every caption written for them was a copy


def prepare(
    run: str | None = None,
    rounds: int = ROUNDS,
    seed: int | None = None,
    attempts: int = ATTEMPTS,
    reporter: Reporter = SILENT,
) -> Quiz:
    """Deal `rounds` rounds of a quiz on a saved run (the newest when None).

    Photos come from the run's validation split in a seeded order, each once; their real caption
    must be one the run could have written in full (not cut at the length cap, where length alone
    would give it away). The generated caption comes from the run's default decoding and is written
    again with another seed while it is a verbatim copy of a training caption or of the photo's
    own. Raises NotReady when no photo qualifies.
    """
    from instacap import runs
    from instacap.config import EvalConfig
    from instacap.evalpool import load_pool

    if rounds < 1:
        raise InputError(f"--rounds must be at least 1 (got {rounds}).")
    if seed is not None and seed < 0:
        raise InputError(f"--seed must be 0 or more (got {seed}).")
    if seed is None:
        seed = secrets.randbits(31)
    loaded = runs.load(run, backend="numpy")  # NumPy weights: one small caption at a time
    pool, train_captions, _ = load_pool(loaded, None, EvalConfig(max_photos=0), reporter)
    candidates = _candidates(pool, seed)
    write, is_copy = _writer(loaded, pool, train_captions, seed)
    reporter.start("writing captions", total=min(rounds, len(candidates)))

    def counted(photo: int, attempt: int) -> str:
        text = write(photo, attempt)
        if not is_copy(photo, text):
            reporter.advance("writing captions")
        return text

    chosen, left_out = choose(candidates, counted, is_copy, rounds, attempts)
    if not chosen:
        raise NotReady(
            f"Run {loaded.name!r} has no validation photo to quiz on"
            + (
                f" ({left_out} left out because it only wrote copies of training captions)"
                if left_out
                else ""
            )
            + "; add posts, run `instacap prep` and train again."
        )
    dealt = _deal(pool, chosen, seed)
    return Quiz(
        loaded.name,
        Path(loaded.path),
        model_id(loaded.meta),
        seed,
        dealt,
        len(candidates),
        left_out,
    )


def _candidates(pool: Pool, seed: int) -> list[int]:
    """The pool photos a round may show, in a seeded order: those whose real caption is not empty
    and ends with EOS (not cut at the length cap, where length alone would give it away)."""
    from instacap.tokenizer import EOS

    ends = pool.ids[np.arange(len(pool)), pool.lengths - 1] == EOS  # [N] not cut at the cap
    usable = [i for i in range(len(pool)) if ends[i] and pool.captions[i].strip()]
    order = np.random.default_rng([seed, 0]).permutation(len(usable))
    return [usable[int(k)] for k in order]


def _writer(
    loaded: NumpyRun, pool: Pool, train_captions: Sequence[str], seed: int
) -> tuple[Callable[[int, int], str], Callable[[int, str], bool]]:
    """write(photo, attempt): one caption for pool photo `photo` with the run's default decoding,
    seeded per photo and attempt; is_copy(photo, text): whether it copies a training caption or
    the photo's own."""
    from instacap import evaluation
    from instacap.config import EvalConfig
    from instacap.sampling import generate

    decoding = evaluation.decoding(loaded, EvalConfig(n=1))
    banned = {c.strip() for c in train_captions}

    def write(photo: int, attempt: int) -> str:
        config = replace(decoding, n=1, seed=_subseed(seed, photo, attempt))
        (caption,) = generate(loaded.model, loaded.vocab, pool.features(np.array([photo])), config)
        return caption[0].text

    def is_copy(photo: int, text: str) -> bool:
        return text.strip() in banned or text.strip() == pool.captions[photo].strip()

    return write, is_copy


def _deal(pool: Pool, chosen: list[tuple[int, str]], seed: int) -> tuple[Round, ...]:
    """The rounds of the chosen (photo, generated caption) pairs, the real caption shown first or
    second by the seed."""
    sides = np.random.default_rng([seed, 1]).integers(1, 3, size=len(chosen))  # real shown 1st/2nd
    return tuple(
        Round(
            number=k + 1,
            shortcode=pool.shortcodes[photo],
            account=pool.accounts[photo],
            image=str(pool.images[photo]),
            real=pool.captions[photo],
            generated=text,
            real_position=int(sides[k]),
        )
        for k, (photo, text) in enumerate(chosen)
    )


def play(
    quiz: Quiz,
    ask: Callable[[Round], int | str | None],
    clock: Callable[[], float] | None = None,
) -> list[Result]:
    """Play `quiz`: `ask(round)` shows a round and returns the caption picked as the person's
    (1 or 2), None to skip it, or "stop". Each finished round is recorded in quiz.jsonl at once, so
    an interruption (Ctrl-C inside `ask`) keeps every round before it. Returns this quiz's results.
    """
    import time

    clock = clock or time.monotonic
    results = []
    for rnd in quiz.rounds:
        start = clock()
        choice = ask(rnd)
        if isinstance(choice, str) or choice not in (None, 1, 2):
            if choice == "stop":
                break
            raise InputError(f"A quiz answer is 1, 2, None or 'stop' (got {choice!r}).")
        result = answer(quiz.run, quiz.seed, rnd, choice, clock() - start, model=quiz.model)
        record(quiz.path, result)
        results.append(result)
    return results


# ----------------------------------------------------------------------------- the page of photos


def page(quiz: Quiz, results: Sequence[Result] = ()) -> str:
    """The quiz's photos as one self-contained HTML page (`instacap quiz --html`): each round's
    photo with its two captions as numbered in the terminal. Answers are shown only for the
    rounds in `results`, so the page written before the quiz gives nothing away."""
    import html

    from instacap import report

    done = {r.shortcode: r for r in results}  # each photo is in a quiz at most once
    cards = []
    for rnd in quiz.rounds:
        res = done.get(rnd.shortcode)
        uri = report.thumbnail(rnd.image, size=480)
        pic = (
            f'<img src="{uri}" alt="round {rnd.number}">'
            if uri
            else '<div class="nophoto">photo not found</div>'
        )
        items = []
        for k, text in enumerate(rnd.captions, 1):
            verdict = ""
            if res is not None:
                verdict = " real" if k == rnd.real_position else " generated"
                if res.choice == k:
                    verdict += " · picked"
            tag = f'<span class="tag">{k}{html.escape(verdict)}</span>'
            items.append(f'<p>{tag}<span class="cap">{report.caption_html(text)}</span></p>')
        note = ""
        if res is not None:
            note = "skipped" if not res.answered else ("fooled" if res.fooled else "spotted")
            note = f' <span class="muted">{note}</span>'
        cards.append(
            f'<figure class="card">{pic}<figcaption><p class="title">Round {rnd.number}{note}'
            f"</p>{''.join(items)}</figcaption></figure>"
        )
    summary = summarize(results)
    sections = [("Rounds", '<div class="sheet">' + "".join(cards) + "</div>")]
    if results:
        line = (
            "No round answered."
            if summary.rate is None
            else f"Fooling rate {100 * summary.rate:.0f}% of {summary.answered} answered rounds "
            f"(95% interval {100 * (summary.low or 0):.0f}–{100 * (summary.high or 0):.0f}%); "
            "50% means people cannot tell the run's captions from real ones."
        )
        sections.insert(0, ("Result", f"<p>{html.escape(line)}</p>"))
    return report.page(
        f"Quiz on run {quiz.run}",
        f"seed {quiz.seed} · which caption did a person write? "
        + ("answers shown" if results else "answers appear here when the quiz ends"),
        sections,
    )


def write_page(path: Path | str, quiz: Quiz, results: Sequence[Result] = ()) -> Path:
    """Write `page(quiz, results)` to `path` atomically."""
    from instacap import report

    return report.write(Path(path), page(quiz, results))
