"""The quiz's answers: a finished round (`Result`), the fooling rate over rounds with its Wilson
interval (`summarize`), and `runs/<name>/quiz.jsonl`, where every finished round is one line, so
quizzes by several people or on several days add up (`record`, `read`, `pooled`).

The counting functions are pure, so that each can be checked on hand-made inputs.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from instacap.errors import InputError
from instacap.files import file_lock

if TYPE_CHECKING:  # types only: a run's description
    from instacap.runs import RunMeta

QUIZ_FILE = "quiz.jsonl"
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


def model_id(meta: RunMeta) -> str:
    """Which weights a run holds (the start of model.pt's SHA-256 in meta.json): a run trained
    again under the same name, or resumed, is another model, whose quiz rounds pool apart."""
    return (meta.model_sha256 or "")[:16]


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
