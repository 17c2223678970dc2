"""The Scraper: one instaloader session reading accounts one at a time into the posts store.

For each account the recent posts are read in feed order (`feed.lazy_feed`), each entry decided
by `selection.Selection`, and per post the FIRST photo and the caption go into the posts store.
Posts already stored cost no request at all, so an interrupted or rate-limited run resumes where
it stopped; every request goes through `Waiter.call`, which waits out rate limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

import instaloader
import requests
import urllib3
from instaloader import exceptions as ilx

from instacap import paths
from instacap.config import ScrapeConfig
from instacap.errors import RateLimited
from instacap.instagram import session
from instacap.instagram.failures import NETWORK, account_error, interrupted
from instacap.instagram.feed import Candidate, FeedEntry, check_image, image_ext, inspect, lazy_feed
from instacap.instagram.results import AccountResult, ScrapeSummary, Tally
from instacap.instagram.selection import Selection
from instacap.instagram.waiting import Clock, RateController, Sleep, Waiter
from instacap.posts import NewPost, PostStore
from instacap.progress import SILENT, Reporter


class Scraper:
    """One instaloader session, scraping accounts one at a time into a PostStore."""

    def __init__(
        self,
        store: PostStore,
        config: ScrapeConfig = ScrapeConfig(),
        reporter: Reporter = SILENT,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.store = store
        self.config = config
        self.reporter = reporter
        self.waiter = Waiter(config, reporter, clock, sleep)
        self.log: list[str] = []  # instaloader's own messages, kept for --debug, never printed
        self.loader = instaloader.Instaloader(
            sleep=False,  # its random sleeps use time.sleep directly; our Waiter paces instead
            quiet=True,
            download_videos=False,
            download_video_thumbnails=False,
            save_metadata=False,
            compress_json=False,
            # The iPhone endpoints cost one extra request per post for a slightly larger photo.
            iphone_support=False,
            rate_controller=lambda ctx: RateController(ctx, self.waiter),
        )
        # instaloader prints errors to stderr; the library must stay silent.
        self.loader.context.error = self._record  # type: ignore[method-assign]
        self.context = self.loader.context

    def use_reporter(self, reporter: Reporter) -> None:
        """Report to `reporter` from now on (the CLI logs in first, then shows progress)."""
        self.reporter = self.waiter.reporter = reporter

    def _record(self, msg: str, repeat_at_end: bool = True) -> None:
        self.log.append(str(msg))

    def close(self) -> None:
        self.loader.close()  # type: ignore[no-untyped-call]

    # -- access: see session.py --------------------------------------------------------------

    @property
    def username(self) -> str | None:
        return self.context.username

    def login(
        self, user: str, ask_password: Callable[[str], str], ask_code: Callable[[], str]
    ) -> str:
        """Log in as `user` (saved session, else password); returns "saved" or "password"."""
        return session.login(self.loader, self.waiter, user, ask_password, ask_code)

    def load_cookies(self, cookie_file: Path | None = None, browser: str | None = None) -> str:
        """Use the Instagram cookies of a logged-in browser; returns the user name they belong to."""
        return session.load_cookies(self.loader, self.waiter, cookie_file, browser)

    def session_file(self, user: str) -> Path:
        return session.session_file(user)

    def save_session(self) -> Path:
        return session.save_session(self.loader)

    # -- scraping ----------------------------------------------------------------------------

    def scrape(self, accounts: Iterable[str]) -> ScrapeSummary:
        """Scrape `accounts` one after the other; per-account failures do not stop the others."""
        names = [paths.validate_account(a) for a in accounts]  # all checked before any request
        todo = list(dict.fromkeys(names))
        done: list[AccountResult] = []
        stopped: str | None = None
        for account in todo:
            tally = Tally()
            try:
                self._account(account, tally)
                done.append(tally.result(account, "ok"))
            except RateLimited as exc:
                stored = sum(a.stored for a in done) + tally.stored
                stopped = (
                    f"{exc} after {self.waiter.waited:.0f} s of waiting (--max-wait "
                    f"{self.config.max_wait:.0f}); stopped with {stored} new posts saved "
                    "this run. Rerun the same command later to resume where it stopped."
                )
                done.append(tally.result(account, "stopped", stopped))
                break
            except KeyboardInterrupt:
                raise
            except NETWORK as exc:
                if interrupted(exc):
                    raise KeyboardInterrupt from exc
                error = account_error(account, exc)
                done.append(tally.result(account, "failed", error))
                self.reporter.note(error)
        not_run = [AccountResult(a) for a in todo[len(done) :]]
        return ScrapeSummary(done + not_run, stopped, self.waiter.waited)

    def _account(self, account: str, tally: Tally) -> None:
        n = self.config.max_posts
        task = f"@{account}"
        self.reporter.start(task, total=n)
        profile = self.waiter.call(instaloader.Profile.from_username, self.context, account)
        feed = lazy_feed(self.waiter.call(profile.get_posts))
        dates = {p.shortcode: p.taken_at for p in self.store.posts([account]) if p.taken_at}
        selection = Selection(n)
        while True:
            ref = self.waiter.call(next, feed, None)
            if ref is None:
                decided, done = selection.finish(), True
            else:
                tally.found += 1
                cand = self._candidate(ref, dates, tally)
                decided, done = ([], False) if cand is None else selection.add(cand)
            for c in decided:
                self._settle(c, selection, tally, account)
            self.reporter.advance(task, 0, **tally.progress())
            if done:
                break

    def _candidate(
        self, ref: FeedEntry, dates: dict[str, datetime], tally: Tally
    ) -> Candidate | None:
        sc = ref.shortcode
        if sc and sc in dates:
            when = dates[sc].astimezone(timezone.utc)
            return Candidate(sc, when, eligible=True, stored=True)
        try:
            cand = inspect(self.waiter.call(ref.load))
        except (
            ilx.BadResponseException,
            ilx.PostChangedException,
            ilx.QueryReturnedNotFoundException,
        ):
            tally.skip("metadata unavailable")
            return None
        if not cand.eligible:
            tally.skip(cand.reason or "not a photo post")
        return cand

    def _settle(self, cand: Candidate, selection: Selection, tally: Tally, account: str) -> None:
        """Store, count or skip one decided entry."""
        if not cand.eligible:
            return  # counted when seen
        if not selection.wanted(cand):
            if cand.pinned_slot:  # a pinned post older than the newest N
                tally.skip("pinned, older than the newest posts")
            return  # else simply past the newest N: where reading stops
        if cand.stored or self.store.has(cand.shortcode):
            tally.already += 1
            self.reporter.advance(f"@{account}", 1)
            return
        reason = self._download(cand, account)
        if reason is None:
            tally.stored += 1
            self.reporter.advance(f"@{account}", 1)
        else:
            tally.skip(reason)

    def _download(self, cand: Candidate, account: str) -> str | None:
        """Fetch the photo and store the post; returns a skip reason, or None when stored."""

        def fetch() -> requests.Response:
            resp = self.context.get_raw(cand.url)
            _ = resp.content  # reads the whole body; a short read raises here
            return resp

        try:
            resp = self.waiter.call(fetch)
        except ilx.QueryReturnedForbiddenException:
            return "photo link expired (HTTP 403)"
        except ilx.QueryReturnedNotFoundException:
            return "photo gone (HTTP 404)"
        except (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError):
            return "download cut short"
        except (ilx.ConnectionException, requests.exceptions.RequestException) as exc:
            if interrupted(exc):
                raise KeyboardInterrupt from exc
            return "download failed"
        data = resp.content
        expected = resp.headers.get("Content-Length")
        # A body shorter than announced is a cut connection (requests usually raises first).
        plain = not resp.headers.get("Content-Encoding")
        if plain and expected and expected.isdigit() and len(data) != int(expected):
            return "download cut short"
        bad = check_image(data)
        if bad:
            return bad
        post = NewPost(
            shortcode=cand.shortcode,
            account=account,
            taken_at=cand.when,
            caption=cand.caption,
            source="scrape",
            image_ext=image_ext(cand.url, resp.headers.get("Content-Type", "")),
            likes=cand.likes,
        )
        self.store.add(post, data)
        return None


def scrape(
    accounts: Iterable[str],
    config: ScrapeConfig = ScrapeConfig(),
    store: PostStore | None = None,
    reporter: Reporter = SILENT,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> ScrapeSummary:
    """Scrape public accounts anonymously into the user's posts store (see `Scraper` for login)."""
    names = [paths.validate_account(a) for a in accounts]
    own = store is None
    store = store or PostStore.open()
    scraper = Scraper(store, config, reporter, clock, sleep)
    try:
        return scraper.scrape(names)
    finally:
        scraper.close()
        if own:
            store.close()
