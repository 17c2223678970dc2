"""Scraping Instagram through instaloader: the only package that imports it.

For each account the recent posts are read in feed order; per post the FIRST photo and the caption
go into the posts store (videos, carousels that start with a video and posts without a caption are
skipped with a reason). Design choices, each for a pain the original scraper had, one file each:

- `feed`: resumable. Posts already in the store cost no request at all (instaloader fetches each
  post's metadata with one api/graphql request as its iterator yields it; `lazy_feed` defers that
  call). An interrupted run keeps every post stored so far.
- `waiting`: rate limits (HTTP 429, 401 "Please wait a few minutes") are waited out with
  exponential back-off up to `max_wait` seconds in all, shown as a countdown through the Reporter,
  then the run stops cleanly. Ctrl-C stops a wait at once; tests inject the clock and never sleep.
- `failures`: which of instaloader's exceptions is a rate limit, and the one sentence per account
  error (private, login wall, checkpoint, gone).
- `selection`: pinned posts (up to three) come first out of date order; the result is still the
  N most recent photo posts.
- `session`: sessions are JSON cookie files under `paths.sessions_dir()`, created 0600, never
  printed and never stored in the posts store.
- `scraper`: the `Scraper` that ties these together, and `scrape()` for anonymous use.
- `results`: the frozen `AccountResult` and `ScrapeSummary` a scrape returns.
"""

from instacap.instagram.failures import account_error, is_rate_limit
from instacap.instagram.results import AccountResult, ScrapeSummary
from instacap.instagram.scraper import Scraper, scrape
from instacap.instagram.selection import PINNED_MAX
from instacap.instagram.waiting import PACE_TASK, WAIT_TASK, Waiter

__all__ = [
    "PACE_TASK",
    "PINNED_MAX",
    "WAIT_TASK",
    "AccountResult",
    "ScrapeSummary",
    "Scraper",
    "Waiter",
    "account_error",
    "is_rate_limit",
    "scrape",
]
