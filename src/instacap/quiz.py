"""A blind "real or generated?" quiz: people judge the tone that no number captures.

Each round shows a validation photo the run never trained on with two captions in random order:
its real one and one the run wrote with its default decoding. The player says which one a person
wrote. The fooling rate is the share of answered rounds where the generated caption was picked;
50% means people cannot tell the run's captions from real ones.

The functions at the top are pure (choosing rounds, counting, the Wilson interval) so that each can
be checked on hand-made inputs; `prepare` wires them to a saved run. Every finished round is one
line of `runs/<name>/quiz.jsonl`, so quizzes by several people or on several days add up.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from instacap.errors import InputError, NotReady
from instacap.files import file_lock
from instacap.progress import SILENT, Reporter

QUIZ_FILE = "quiz.jsonl"
ROUNDS = 20  # rounds per quiz by default: about five minutes, an interval of about ±20 points
ATTEMPTS = 5  # captions written per photo before the photo is left out as only writing copies
Z95 = 1.959963984540054  # two-sided 95% quantile of the normal distribution

# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Round:
    """One photo of a quiz and its two captions as shown: `captions[real_position - 1]` is real."""

    number: int  # 1-based position in the quiz
    shortcode: str
    account: str
    image: str
    real: str
    generated: str
    real_position: int  # 1 or 2

    @property
    def captions(self) -> tuple[str, str]:
        """The two captions in the order shown (caption 1, caption 2)."""
        if self.real_position == 1:
            return self.real, self.generated
        return self.generated, self.real


@dataclass(frozen=True)
class Result:
    """One finished round, as one line of quiz.jsonl."""

    run: str
    seed: int  # the quiz's seed: the same seed deals the same rounds
    shortcode: str
    account: str
    image: str
    real: str
    generated: str
    real_position: int  # 1 or 2
    choice: int | None  # the caption picked as the person's (1 or 2); None = skipped
    seconds: float  # from showing the captions to the key press
    at: str  # ISO 8601, UTC
    model: str = ""  # model_id of the weights that wrote `generated` (see `model_id`)

    @property
    def answered(self) -> bool:
        return self.choice is not None

    @property
    def fooled(self) -> bool:
        """The generated caption was picked as the one a person wrote."""
        return self.choice is not None and self.choice != self.real_position

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"fooled": self.fooled}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        known = {f.name for f in fields(cls)}
        result = cls(**{k: v for k, v in data.items() if k in known})
        if result.real_position not in (1, 2) or result.choice not in (None, 1, 2):
            raise ValueError("positions must be 1 or 2")
        return result


def model_id(meta: dict[str, Any]) -> str:
    """Which weights a run holds (the start of model.pt's SHA-256 in meta.json): a run trained
    again under the same name, or resumed, is another model, whose quiz rounds pool apart."""
    return str(meta.get("model_sha256") or "")[:16]


def answer(
    run: str,
    seed: int,
    rnd: Round,
    choice: int | None,
    seconds: float,
    at: datetime | None = None,
    model: str = "",
) -> Result:
    """The Result of `rnd` when the player picked caption `choice` (1, 2, or None to skip)."""
    if choice not in (None, 1, 2):
        raise InputError(f"A quiz answer is caption 1 or 2, or None to skip (got {choice!r}).")
    when = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return Result(
        run=run,
        seed=seed,
        shortcode=rnd.shortcode,
        account=rnd.account,
        image=rnd.image,
        real=rnd.real,
        generated=rnd.generated,
        real_position=rnd.real_position,
        choice=choice,
        seconds=round(float(seconds), 2),
        at=when.isoformat(timespec="seconds"),
        model=model,
    )


@dataclass(frozen=True)
class Summary:
    """The fooling rate of some rounds, with its 95% Wilson interval (fractions 0..1)."""

    rounds: int  # recorded rounds, skipped ones included
    answered: int
    fooled: int
    rate: float | None  # fooled / answered; None before any answer
    low: float | None
    high: float | None

    @property
    def skipped(self) -> int:
        return self.rounds - self.answered

    def to_json(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "answered": self.answered,
            "skipped": self.skipped,
            "fooled": self.fooled,
            "fooling_rate": self.rate,
            "interval_95": None if self.low is None else [self.low, self.high],
        }


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion: (low, high) in 0..1.

    Unlike p ± z·sqrt(p(1-p)/n) it stays inside 0..1 and does not collapse to a point at 0 or
    n successes, which matters with the few dozen rounds a quiz has.
    """
    if n <= 0:
        raise ValueError("an interval needs at least one trial")
    if not 0 <= successes <= n:
        raise ValueError("successes must be between 0 and n")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def summarize(results: Iterable[Result]) -> Summary:
    """Fooling rate over `results`; skipped rounds are counted but not in the rate."""
    rounds = answered = fooled = 0
    for r in results:
        rounds += 1
        answered += r.answered
        fooled += r.fooled
    if not answered:
        return Summary(rounds, 0, 0, None, None, None)
    low, high = wilson(fooled, answered)
    return Summary(rounds, answered, fooled, fooled / answered, low, high)


# ----------------------------------------------------------------------------- quiz.jsonl


def quiz_file(run_path: Path) -> Path:
    return Path(run_path) / QUIZ_FILE


def record(run_path: Path, result: Result) -> None:
    """Append one round to quiz.jsonl as a single line, under a lock and synced to disk, so that
    two quizzes on one run never interleave and an interruption keeps every finished round."""
    path = quiz_file(run_path)
    line = (json.dumps(result.to_json(), ensure_ascii=False) + "\n").encode()
    with file_lock(path.with_name(QUIZ_FILE + ".lock")), open(path, "a+b") as fh:
        if fh.seek(0, os.SEEK_END) > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":  # a line cut short by a crash: never glue onto it
                line = b"\n" + line
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read(run_path: Path) -> list[Result]:
    """Every round recorded for a run, oldest first ([] when none). A line that cannot be read
    (cut short by a crash, edited by hand) is left out rather than failing the whole file."""
    try:
        text = quiz_file(run_path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            data = json.loads(line)
            out.append(Result.from_json(data))
        except (ValueError, TypeError, AttributeError):
            continue
    return out


def pooled(run_path: Path, model: str | None = None) -> Summary | None:
    """The fooling rate of every quiz recorded for the run, or None when nobody played yet.
    With `model` (a `model_id`), only the rounds whose captions those weights wrote."""
    results = [r for r in read(run_path) if model is None or r.model == model]
    return summarize(results) if results else None


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
    from instacap import evaluation
    from instacap.config import EvalConfig
    from instacap.sampling import Captioner, generate
    from instacap.tokenizer import EOS

    if rounds < 1:
        raise InputError(f"--rounds must be at least 1 (got {rounds}).")
    if seed is not None and seed < 0:
        raise InputError(f"--seed must be 0 or more (got {seed}).")
    if seed is None:
        seed = secrets.randbits(31)
    loaded = Captioner.load(run).run  # NumPy weights on CPU: one small caption at a time
    pool, train_captions, _ = evaluation.load_pool(loaded, None, EvalConfig(max_photos=0), reporter)
    ends = pool.ids[np.arange(len(pool)), pool.lengths - 1] == EOS  # [N] not cut at the cap
    usable = [i for i in range(len(pool)) if ends[i] and pool.captions[i].strip()]
    order = np.random.default_rng([seed, 0]).permutation(len(usable))
    candidates = [usable[int(k)] for k in order]
    decoding = evaluation.decoding(loaded, EvalConfig(n=1))
    banned = {c.strip() for c in train_captions}

    def write(photo: int, attempt: int) -> str:
        config = replace(decoding, n=1, seed=_subseed(seed, photo, attempt))
        (caption,) = generate(loaded.model, loaded.vocab, pool.features(np.array([photo])), config)
        return caption[0].text

    def is_copy(photo: int, text: str) -> bool:
        return text.strip() in banned or text.strip() == pool.captions[photo].strip()

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
    sides = np.random.default_rng([seed, 1]).integers(1, 3, size=len(chosen))  # real shown 1st/2nd
    dealt = tuple(
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
    return Quiz(
        loaded.name,
        Path(loaded.path),
        model_id(loaded.meta),
        seed,
        dealt,
        len(candidates),
        left_out,
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
