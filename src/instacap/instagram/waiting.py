"""Every wait of a scrape: rate-limit back-off (budgeted), pacing (not budgeted), countdowns.

Rate limits (HTTP 429, 401 "Please wait a few minutes") are waited out with exponential back-off
up to `max_wait` seconds in all, shown as a countdown through the Reporter; past the budget
`RateLimited` stops the run cleanly. instaloader's own waits go through `RateController`, so
Ctrl-C stops them at once, and the clock and sleep are injected so that tests never sleep.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import instaloader

from instacap.config import ScrapeConfig
from instacap.errors import RateLimited
from instacap.instagram.failures import NETWORK, interrupted, is_rate_limit, rate_limit_why
from instacap.progress import Reporter

WAIT_TASK = "waiting (rate limit)"
PACE_TASK = "waiting (pacing)"

Clock = Callable[[], float]
Sleep = Callable[[float], None]
T = TypeVar("T")


class Waiter:
    """Every wait of a scrape: rate-limit back-off (budgeted) and pacing (not budgeted)."""

    def __init__(
        self, config: ScrapeConfig, reporter: Reporter, clock: Clock, sleep: Sleep
    ) -> None:
        self.config = config
        self.reporter = reporter
        self.clock = clock
        self.sleep = sleep
        self.waited = 0.0  # back-off seconds spent so far (the budget is config.max_wait)
        self._step = 0  # back-offs since the last success: the exponent
        self._last_query: float | None = None

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run one request-making step, waiting out rate limits and retrying it."""
        while True:
            try:
                value = fn(*args)
            except NETWORK as exc:
                if interrupted(exc):
                    raise KeyboardInterrupt from exc
                if not is_rate_limit(exc):
                    raise
                self.back_off(rate_limit_why(exc))
                continue
            self.succeeded()
            return value

    def back_off(self, why: str) -> None:
        """Wait after a rate-limit answer: first_wait, doubling, until max_wait is used up."""
        left = self.config.max_wait - self.waited
        if left <= 0:
            raise RateLimited(f"Instagram kept rate-limiting ({why})")
        secs = min(self.config.first_wait * 2**self._step, left)
        self._step += 1
        self.reporter.note(
            f"Instagram asks to slow down ({why}); waiting {secs:.0f} s before retrying "
            f"({self.waited + secs:.0f} of {self.config.max_wait:.0f} s allowed). "
            "Ctrl-C stops; rerunning resumes."
        )
        self.countdown(secs, WAIT_TASK)
        self.waited += secs

    def succeeded(self) -> None:
        """A request went through: the next rate limit starts again from first_wait."""
        self._step = 0

    def pace(self) -> None:
        """Keep at least `delay` seconds between requests to Instagram."""
        if self.config.delay > 0 and self._last_query is not None:
            gap = self._last_query + self.config.delay - self.clock()
            if gap > 0:
                self.sleep(gap)
        self._last_query = self.clock()

    def countdown(self, secs: float, task: str) -> None:
        """Sleep `secs` in steps of at most a second, advancing a progress bar as it goes."""
        self.reporter.start(task, total=max(1, math.ceil(secs)), left=f"{secs:.0f}s")
        end = self.clock() + secs
        left, shown = secs, 0
        while left > 0:
            self.sleep(min(1.0, left))
            left = max(0.0, end - self.clock())
            elapsed = round(secs - left)  # whole seconds for the bar
            self.reporter.advance(task, elapsed - shown, left=f"{left:.0f}s")
            shown = elapsed


class RateController(instaloader.RateController):
    """instaloader's pacing, with its sleeps, 429 handling and our --delay going through `Waiter`."""

    def __init__(self, context: Any, waiter: Waiter) -> None:
        super().__init__(context)
        self._waiter = waiter

    def sleep(self, secs: float) -> None:
        # instaloader's own sliding-window pacing: shown, not counted against --max-wait.
        self._waiter.reporter.note(f"Pacing requests as Instagram expects: waiting {secs:.0f} s.")
        self._waiter.countdown(secs, PACE_TASK)

    def wait_before_query(self, query_type: str) -> None:
        super().wait_before_query(query_type)
        self._waiter.pace()

    def handle_429(self, query_type: str) -> None:
        # Replaces instaloader's fixed ~11 minute wait with our budgeted exponential back-off.
        self._waiter.back_off("HTTP 429 Too Many Requests")
