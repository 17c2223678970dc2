"""Scraping Instagram through instaloader: the only module that imports it.

For each account the recent posts are read in feed order; per post the FIRST photo and the caption
go into the posts store (videos, carousels that start with a video and posts without a caption are
skipped with a reason). Design choices, each for a pain the original scraper had:

- Resumable: posts already in the store cost no request at all (instaloader fetches each post's
  metadata with one api/graphql request as its iterator yields it; we defer that call, see
  `_lazy_feed`). An interrupted run keeps every post stored so far.
- Rate limits (HTTP 429, 401 "Please wait a few minutes") are waited out with exponential back-off
  up to `max_wait` seconds in all, shown as a countdown through the Reporter, then the run stops
  cleanly. Waits go through our own `instaloader.RateController`, so Ctrl-C stops them at once,
  and the clock and sleep are injectable so that tests never sleep.
- Pinned posts (up to three) come first out of date order; the result is still the N most recent
  photo posts (`_Selection`).
- Sessions are JSON cookie files under `paths.sessions_dir()`, created 0600, never printed and
  never stored in the posts store.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.cookiejar import LoadError, MozillaCookieJar
from pathlib import Path
from typing import Any

import instaloader
import requests
import urllib3
from instaloader import exceptions as ilx

from instacap import paths
from instacap.config import ScrapeConfig
from instacap.errors import InputError, RateLimited, ScrapeError
from instacap.files import write_atomic
from instacap.posts import NewPost, PostStore
from instacap.progress import SILENT, Reporter

PINNED_MAX = 3  # Instagram lets an account pin up to three posts above the others
WAIT_TASK = "waiting (rate limit)"
PACE_TASK = "waiting (pacing)"

Clock = Callable[[], float]
Sleep = Callable[[float], None]


# -- results ----------------------------------------------------------------------------------


@dataclass
class AccountResult:
    """What happened to one account; `status` is ok | failed | stopped | not run."""

    account: str
    status: str = "not run"
    found: int = 0  # posts read from the feed
    stored: int = 0  # new posts written this run
    already: int = 0  # posts of the newest N that were stored before
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    error: str | None = None

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "status": self.status,
            "found": self.found,
            "stored": self.stored,
            "already": self.already,
            "skipped": dict(self.skipped),
            "error": self.error,
        }


@dataclass
class ScrapeSummary:
    accounts: list[AccountResult]
    stopped: str | None = None  # why the whole run stopped early (rate limit), else None
    waited_s: float = 0.0  # seconds spent waiting out rate limits

    @property
    def stored(self) -> int:
        return sum(a.stored for a in self.accounts)

    @property
    def ok(self) -> bool:
        return self.stopped is None and all(a.status == "ok" for a in self.accounts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "stored": self.stored,
            "already": sum(a.already for a in self.accounts),
            "skipped": sum(sum(a.skipped.values()) for a in self.accounts),
            "waited_s": round(self.waited_s, 1),
            "stopped": self.stopped,
            "accounts": [a.to_dict() for a in self.accounts],
        }


# -- waiting: back-off, pacing, countdown -----------------------------------------------------


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


class _RateController(instaloader.RateController):
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


# -- classifying instaloader's exceptions -----------------------------------------------------

_NETWORK = (
    ilx.InstaloaderException,
    ilx.AbortDownloadException,
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it wraps (instaloader re-raises with `from`, or inside `except`)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__]


def _text(exc: BaseException) -> str:
    return " ".join(str(e) for e in _chain(exc)).lower()


def is_rate_limit(exc: BaseException) -> bool:
    """HTTP 429, or the 401 "Please wait a few minutes before you try again." answer."""
    if any(isinstance(e, ilx.TooManyRequestsException) for e in _chain(exc)):
        return True
    text = _text(exc)
    return "429 too many requests" in text or "please wait a few minutes" in text


def _interrupted(exc: BaseException) -> bool:
    # instaloader turns a Ctrl-C during its retry into ConnectionException("[skipped by user]").
    return any(isinstance(e, KeyboardInterrupt) for e in _chain(exc))


def account_error(account: str, exc: BaseException) -> str:
    """The one sentence shown when `account` cannot be scraped."""
    text = _text(exc)
    kinds = {type(e) for e in _chain(exc)}
    if any(w in text for w in ("checkpoint_required", "challenge_required", "/challenge")):
        return (
            f"@{account}: Instagram asks for a security check (checkpoint); open instagram.com "
            "in a browser, complete it, then rerun."
        )
    if "feedback_required" in text:
        return (
            f"@{account}: Instagram blocked this action for now (feedback_required); "
            "wait a few hours before rerunning."
        )
    if ilx.PrivateProfileNotFollowedException in kinds or (
        ilx.LoginRequiredException in kinds and "private" in text
    ):
        return (
            f"@{account} is private; log in with --login as an account that follows it, "
            "or leave it out."
        )
    if "redirected to login page" in text or ilx.LoginRequiredException in kinds:
        if "logged out" in text:
            return (
                f"@{account}: Instagram logged this session out; log in again with --login "
                "(delete the saved session first) and rerun."
            )
        return (
            f"@{account}: Instagram shows a login wall instead of this account; rerun with "
            "--login USER or --cookies FILE."
        )
    if ilx.ProfileNotExistsException in kinds:
        return f"@{account} does not exist on Instagram; check the spelling."
    if ilx.BadResponseException in kinds:
        return (
            f"@{account}: Instagram's answer was not understood ({exc}); "
            "updating instaloader (pip install -U instaloader) may help."
        )
    return (
        f"@{account}: could not reach Instagram ({exc}); check the connection and rerun to resume."
    )


# -- the feed, loaded lazily ------------------------------------------------------------------


class _Ref:
    """A feed entry whose full post metadata is fetched only when `load()` is called."""

    def __init__(self, node: dict[str, Any], wrap: Callable[[dict[str, Any]], Any]) -> None:
        self.node = node
        self._wrap = wrap

    @property
    def shortcode(self) -> str | None:
        return self.node.get("code") or self.node.get("shortcode")

    def load(self) -> Any:
        return self._wrap(self.node)


def _lazy_feed(posts: Any) -> Iterator[_Ref]:
    """Make instaloader's NodeIterator yield `_Ref`s: a node becomes a Post only when asked.

    Logged out, instaloader's node wrapper is `Post.from_shortcode`, one api/graphql request per
    post; for posts already stored that request is pure waste (and it is what trips rate limits).
    The NodeIterator itself is returned (not a generator around it) so that `next()` can be
    retried after a rate limit: a generator would be finished by the exception. If a future
    instaloader drops these attributes, every entry is loaded eagerly instead.
    """
    wrap = getattr(posts, "_node_wrapper", None)
    if wrap is not None and hasattr(posts, "_is_first"):
        posts._node_wrapper = lambda node: _Ref(node, wrap)
        posts._is_first = None  # its "newest first" check would load every post
        return posts
    return map(lambda post: _Ref({"code": post.shortcode}, lambda _n: post), posts)


# -- one post: what to keep -------------------------------------------------------------------


@dataclass
class _Candidate:
    shortcode: str
    when: datetime
    eligible: bool  # first media is a photo and there is a caption
    stored: bool = False
    reason: str | None = None  # why not eligible
    caption: str = ""
    url: str = ""
    likes: int | None = None
    pinned_slot: bool = False  # among the first PINNED_MAX entries of the feed


def _inspect(post: Any) -> _Candidate:
    """Read what instacap keeps from an instaloader Post (no download yet)."""
    when = post.date_utc.replace(tzinfo=timezone.utc)
    cand = _Candidate(post.shortcode, when, eligible=False)
    if post.typename == "GraphSidecar":
        first = next(iter(post.get_sidecar_nodes(0, 0)), None)
        if first is None:
            cand.reason = "empty carousel"
            return cand
        if first.is_video:
            cand.reason = "carousel starts with a video"
            return cand
        cand.url = first.display_url
    elif post.is_video or post.typename == "GraphVideo":
        cand.reason = "video"
        return cand
    else:
        cand.url = post.url
    caption = post.caption
    if not caption or not caption.strip():
        cand.reason = "no caption"
        return cand
    cand.caption = caption
    cand.likes = _likes(post)
    cand.eligible = bool(cand.url)
    cand.reason = None if cand.eligible else "no photo URL"
    return cand


def _likes(post: Any) -> int | None:
    node = getattr(post, "_node", {}) or {}
    if node.get("like_and_view_counts_disabled"):
        return None  # hidden by the account: instaloader would report 0
    if "like_count" in node:
        return node["like_count"]
    try:
        return int(post.likes)
    except (KeyError, TypeError, ValueError, ilx.InstaloaderException):
        return None


_EXT = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif"}


def _image_ext(url: str, content_type: str) -> str:
    ext = _EXT.get(content_type.split(";")[0].strip().lower())
    if ext:
        return ext
    suffix = Path(url.split("?")[0]).suffix.lower()
    return suffix if suffix in (".jpg", ".jpeg", ".png", ".webp") else ".jpg"


def _check_image(data: bytes) -> str | None:
    """None when `data` decodes completely as an image, else a short reason."""
    from PIL import Image

    if not data:
        return "empty download"
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except Exception:  # Pillow raises many types for broken files
        return "corrupt image"
    return None


# -- which posts are the newest N -------------------------------------------------------------


class _Selection:
    """Decides, as the feed streams by, which posts belong to the N most recent photo posts.

    Entries after the first PINNED_MAX come newest first, so when such an entry arrives every
    newer post has been seen and its fate is known at once. The first PINNED_MAX entries may be
    pinned (old) posts: they are held until an older post shows everything newer has been seen.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen: list[_Candidate] = []
        self.held: list[_Candidate] = []
        self.index = 0

    def newer(self, cand: _Candidate) -> int:
        return sum(1 for c in self.seen if c.eligible and c.when > cand.when)

    def add(self, cand: _Candidate) -> tuple[list[_Candidate], bool]:
        """Feed one entry; returns (entries now decided, whether reading can stop)."""
        self.seen.append(cand)
        index, self.index = self.index, self.index + 1
        if index < PINNED_MAX:
            cand.pinned_slot = True
            self.held.append(cand)
            return [], False
        ready = [c for c in self.held if c.when >= cand.when] + [cand]
        self.held = [c for c in self.held if c.when < cand.when]
        done = self.newer(cand) >= self.n  # all later entries are older still
        if done:
            ready += self.held  # held ones older than this are out of the newest N too
            self.held = []
        return ready, done

    def finish(self) -> list[_Candidate]:
        ready, self.held = self.held, []
        return ready

    def wanted(self, cand: _Candidate) -> bool:
        return cand.eligible and self.newer(cand) < self.n


# -- the scraper ------------------------------------------------------------------------------


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
            rate_controller=lambda ctx: _RateController(ctx, self.waiter),
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
        self.loader.close()

    # -- access ------------------------------------------------------------------------------

    @property
    def username(self) -> str | None:
        return self.context.username

    def login(
        self,
        user: str,
        ask_password: Callable[[str], str],
        ask_code: Callable[[], str],
    ) -> str:
        """Log in as `user`: saved session if any (ours, then instaloader's), else password.

        Returns where the session came from: "saved" or "password".
        """
        paths.validate_account(user)
        if self._load_saved_session(user) and self._call(self.loader.test_login) == user:
            return "saved"
        try:
            self.loader.login(user, ask_password(user))
        except ilx.TwoFactorAuthRequiredException:
            try:
                self.loader.two_factor_login(ask_code())
            except ilx.BadCredentialsException as exc:
                raise ScrapeError(
                    "Instagram rejected the two-factor code; rerun and enter a fresh code."
                ) from exc
        except ilx.BadCredentialsException as exc:
            raise ScrapeError(
                f"Instagram rejected the password for {user}; rerun and try again."
            ) from exc
        except ilx.LoginException as exc:
            raise ScrapeError(_login_error(user, exc)) from exc
        except _NETWORK as exc:
            raise ScrapeError(
                f"Logging in as {user} failed ({exc}); check the connection and try again."
            ) from exc
        self.save_session()
        return "password"

    def load_cookies(self, cookie_file: Path | None = None, browser: str | None = None) -> str:
        """Use the Instagram cookies of a logged-in browser; returns the user name they belong to."""
        cookies = (
            _cookies_from_file(Path(cookie_file))
            if cookie_file is not None
            else _cookies_from_browser(browser or "")
        )
        if not cookies.get("sessionid"):
            raise InputError(
                "The cookies hold no Instagram login (no sessionid cookie); log in to instagram.com "
                "in that browser first, then export the cookies again."
            )
        self.context.update_cookies(cookies)
        user = self._call(self.loader.test_login)
        if not user:
            raise ScrapeError(
                "Instagram does not accept these cookies as a login (expired?); log in again in "
                "the browser and export fresh cookies."
            )
        self.context.username = user
        self.save_session()
        return user

    def session_file(self, user: str) -> Path:
        return paths.sessions_dir() / f"{paths.validate_account(user)}.json"

    def save_session(self) -> Path:
        """Write the session cookies to sessions/<user>.json, readable by the owner only."""
        user = self.username
        assert user is not None
        dest = self.session_file(user)
        paths.ensure_dir(dest.parent)
        os.chmod(dest.parent, 0o700)
        # write_atomic's temporary file comes from mkstemp, always created 0600 and then renamed
        # over any older session file, so the cookies are never readable by others.
        write_atomic(dest, json.dumps(self.context.save_session()).encode())
        return dest

    def _load_saved_session(self, user: str) -> bool:
        ours = self.session_file(user)
        if ours.is_file():
            try:
                cookies = json.loads(ours.read_text())
                self.loader.load_session(user, cookies)
                return True
            except (ValueError, KeyError, TypeError):
                return False  # unreadable: log in again, which rewrites it
        theirs = Path(instaloader.instaloader.get_default_session_filename(user))
        if theirs.is_file():
            try:
                self.loader.load_session_from_file(user, str(theirs))
                return True
            except Exception:  # a pickle from another version: just log in again
                return False
        return False

    # -- scraping ----------------------------------------------------------------------------

    def scrape(self, accounts: Iterable[str]) -> ScrapeSummary:
        """Scrape `accounts` one after the other; per-account failures do not stop the others."""
        names = [paths.validate_account(a) for a in accounts]  # all checked before any request
        results = [AccountResult(a) for a in dict.fromkeys(names)]
        summary = ScrapeSummary(results)
        for result in results:
            try:
                self._account(result)
                result.status = "ok"
            except RateLimited as exc:
                result.status = "stopped"
                summary.stopped = (
                    f"{exc} after {self.waiter.waited:.0f} s of waiting (--max-wait "
                    f"{self.config.max_wait:.0f}); stopped with {summary.stored} new posts saved "
                    "this run. Rerun the same command later to resume where it stopped."
                )
                result.error = summary.stopped
                break
            except KeyboardInterrupt:
                raise
            except _NETWORK as exc:
                if _interrupted(exc):
                    raise KeyboardInterrupt from exc
                result.status = "failed"
                result.error = account_error(result.account, exc)
                self.reporter.note(result.error)
            finally:
                summary.waited_s = self.waiter.waited
        return summary

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run one request-making step, waiting out rate limits and retrying it."""
        while True:
            try:
                value = fn(*args)
            except _NETWORK as exc:
                if _interrupted(exc):
                    raise KeyboardInterrupt from exc
                if not is_rate_limit(exc):
                    raise
                self.waiter.back_off(_rate_limit_why(exc))
                continue
            self.waiter.succeeded()
            return value

    def _account(self, result: AccountResult) -> None:
        account, n = result.account, self.config.max_posts
        task = f"@{account}"
        self.reporter.start(task, total=n)
        profile = self._call(instaloader.Profile.from_username, self.context, account)
        feed = _lazy_feed(self._call(profile.get_posts))
        dates = {p.shortcode: p.taken_at for p in self.store.posts([account]) if p.taken_at}
        selection = _Selection(n)
        while True:
            ref = self._call(next, feed, None)
            if ref is None:
                decided, done = selection.finish(), True
            else:
                result.found += 1
                cand = self._candidate(ref, dates, result)
                decided, done = ([], False) if cand is None else selection.add(cand)
            for c in decided:
                self._settle(c, selection, result, task)
            self.reporter.advance(task, 0, **_progress_info(result))
            if done:
                break

    def _candidate(
        self, ref: _Ref, dates: dict[str, datetime], result: AccountResult
    ) -> _Candidate | None:
        sc = ref.shortcode
        if sc and sc in dates:
            when = dates[sc].astimezone(timezone.utc)
            return _Candidate(sc, when, eligible=True, stored=True)
        try:
            cand = _inspect(self._call(ref.load))
        except (
            ilx.BadResponseException,
            ilx.PostChangedException,
            ilx.QueryReturnedNotFoundException,
        ):
            result.skip("metadata unavailable")
            return None
        if not cand.eligible:
            result.skip(cand.reason or "not a photo post")
        return cand

    def _settle(
        self, cand: _Candidate, selection: _Selection, result: AccountResult, task: str
    ) -> None:
        """Store, count or skip one decided entry."""
        if not cand.eligible:
            return  # counted when seen
        if not selection.wanted(cand):
            if cand.pinned_slot:  # a pinned post older than the newest N
                result.skip("pinned, older than the newest posts")
            return  # else simply past the newest N: where reading stops
        if cand.stored or self.store.has(cand.shortcode):
            result.already += 1
            self.reporter.advance(task, 1)
            return
        reason = self._download(cand, result.account)
        if reason is None:
            result.stored += 1
            self.reporter.advance(task, 1)
        else:
            result.skip(reason)

    def _download(self, cand: _Candidate, account: str) -> str | None:
        """Fetch the photo and store the post; returns a skip reason, or None when stored."""

        def fetch() -> requests.Response:
            resp = self.context.get_raw(cand.url)
            _ = resp.content  # reads the whole body; a short read raises here
            return resp

        try:
            resp = self._call(fetch)
        except ilx.QueryReturnedForbiddenException:
            return "photo link expired (HTTP 403)"
        except ilx.QueryReturnedNotFoundException:
            return "photo gone (HTTP 404)"
        except (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError):
            return "download cut short"
        except (ilx.ConnectionException, requests.exceptions.RequestException) as exc:
            if _interrupted(exc):
                raise KeyboardInterrupt from exc
            return "download failed"
        data = resp.content
        expected = resp.headers.get("Content-Length")
        # A body shorter than announced is a cut connection (requests usually raises first).
        plain = not resp.headers.get("Content-Encoding")
        if plain and expected and expected.isdigit() and len(data) != int(expected):
            return "download cut short"
        bad = _check_image(data)
        if bad:
            return bad
        post = NewPost(
            shortcode=cand.shortcode,
            account=account,
            taken_at=cand.when,
            caption=cand.caption,
            source="scrape",
            image_ext=_image_ext(cand.url, resp.headers.get("Content-Type", "")),
            likes=cand.likes,
        )
        self.store.add(post, data)
        return None


def _progress_info(result: AccountResult) -> dict[str, Any]:
    return {
        "found": result.found,
        "new": result.stored,
        "had": result.already,
        "skipped": sum(result.skipped.values()),
    }


def _rate_limit_why(exc: BaseException) -> str:
    if "please wait a few minutes" in _text(exc):
        return 'HTTP 401 "Please wait a few minutes"'
    return "HTTP 429 Too Many Requests"


def _login_error(user: str, exc: BaseException) -> str:
    text = str(exc)
    if "checkpoint" in text.lower():
        return (
            f"Instagram wants to confirm this login of {user} (checkpoint); log in once at "
            "instagram.com in a browser, complete the check, then rerun."
        )
    if "does not exist" in text:
        return f"Instagram says the login {user} does not exist; check the user name."
    return f"Logging in as {user} failed ({text}); try --cookies FILE from a logged-in browser."


def _cookies_from_file(path: Path) -> dict[str, str]:
    """Instagram cookies from a Netscape cookies.txt (what browser export add-ons write)."""
    jar = MozillaCookieJar()
    try:
        jar.load(str(path), ignore_discard=True, ignore_expires=True)
    except FileNotFoundError:
        raise InputError(f"The cookie file {path} does not exist; check the path.") from None
    except (LoadError, OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path} is not a Netscape cookies.txt file ({exc}); export the cookies in that format."
        ) from exc
    return {c.name: c.value or "" for c in jar if "instagram.com" in c.domain}


def _cookies_from_browser(browser: str) -> dict[str, str]:
    try:
        import browser_cookie3
    except ImportError:
        raise InputError(
            "Reading cookies straight from a browser needs the browser-cookie3 package "
            "(pip install browser-cookie3); or export cookies.txt and use --cookies FILE."
        ) from None
    loader = getattr(browser_cookie3, browser.lower(), None)
    if loader is None or browser.startswith("_"):
        raise InputError(
            f"Unknown browser {browser!r}; use one of chrome, chromium, brave, edge, firefox, "
            "librewolf, opera, safari, vivaldi."
        )
    try:
        jar = loader(domain_name="instagram.com")
    except Exception as exc:  # each browser backend fails in its own way
        raise InputError(
            f"Could not read {browser}'s cookies ({exc}); export cookies.txt and use --cookies FILE."
        ) from exc
    return {c.name: c.value or "" for c in jar if "instagram.com" in c.domain}


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
