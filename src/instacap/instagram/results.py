"""What a scrape reports: one frozen `AccountResult` per account inside a frozen `ScrapeSummary`.

While an account is being read its counts grow in a mutable `Tally`; the scraper freezes the
tally into an `AccountResult` once the account is finished (ok, failed or stopped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    """The counts of the account being read; becomes an `AccountResult` through `result()`."""

    found: int = 0  # posts read from the feed
    stored: int = 0  # new posts written this run
    already: int = 0  # posts of the newest N that were stored before
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def progress(self) -> dict[str, Any]:
        """The counts shown beside the account's progress bar."""
        return {
            "found": self.found,
            "new": self.stored,
            "had": self.already,
            "skipped": sum(self.skipped.values()),
        }

    def result(self, account: str, status: str, error: str | None = None) -> AccountResult:
        return AccountResult(
            account, status, self.found, self.stored, self.already, dict(self.skipped), error
        )


@dataclass(frozen=True)
class AccountResult:
    """What happened to one account; `status` is ok | failed | stopped | not run."""

    account: str
    status: str = "not run"
    found: int = 0  # posts read from the feed
    stored: int = 0  # new posts written this run
    already: int = 0  # posts of the newest N that were stored before
    skipped: Mapping[str, int] = field(default_factory=dict)  # reason -> count
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "status": self.status,
            "found": self.found,
            "stored": self.stored,
            "already": self.already,
            "skipped": dict(self.skipped),
            "error": self.error,
        }


@dataclass(frozen=True)
class ScrapeSummary:
    accounts: Sequence[AccountResult]  # in the order asked, each account once
    stopped: str | None = None  # why the whole run stopped early (rate limit), else None
    waited_s: float = 0.0  # seconds spent waiting out rate limits

    @property
    def stored(self) -> int:
        return sum(a.stored for a in self.accounts)

    @property
    def ok(self) -> bool:
        return self.stopped is None and all(a.status == "ok" for a in self.accounts)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "stored": self.stored,
            "already": sum(a.already for a in self.accounts),
            "skipped": sum(sum(a.skipped.values()) for a in self.accounts),
            "waited_s": round(self.waited_s, 1),
            "stopped": self.stopped,
            "accounts": [a.to_json() for a in self.accounts],
        }
