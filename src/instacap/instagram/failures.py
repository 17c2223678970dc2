"""Reading instaloader's exceptions: is it a rate limit, a Ctrl-C, and which sentence to show.

instaloader wraps the error that matters (an HTTP 429, a login wall, a KeyboardInterrupt during
its own retry) inside its own exception types, re-raised with `from` or inside `except`, so every
check here looks along the whole exception chain, types and messages both.
"""

from __future__ import annotations

from collections.abc import Iterator

import requests
import urllib3
from instaloader import exceptions as ilx

# Everything a request to Instagram can raise; anything else (disk full, a bug) is not caught.
NETWORK = (
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


def rate_limit_why(exc: BaseException) -> str:
    """Which rate-limit answer `exc` is, in the words shown while waiting it out."""
    if "please wait a few minutes" in _text(exc):
        return 'HTTP 401 "Please wait a few minutes"'
    return "HTTP 429 Too Many Requests"


def interrupted(exc: BaseException) -> bool:
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


def login_error(user: str, exc: BaseException) -> str:
    """The one sentence shown when instaloader refuses a login for a reason of its own."""
    text = str(exc)
    if "checkpoint" in text.lower():
        return (
            f"Instagram wants to confirm this login of {user} (checkpoint); log in once at "
            "instagram.com in a browser, complete the check, then rerun."
        )
    if "does not exist" in text:
        return f"Instagram says the login {user} does not exist; check the user name."
    return f"Logging in as {user} failed ({text}); try --cookies FILE from a logged-in browser."
