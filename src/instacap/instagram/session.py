"""Logging in: saved sessions, password and two-factor code, cookies from a file or a browser.

Sessions are JSON cookie files under `paths.sessions_dir()`, created 0600 in a 0700 folder,
never printed and never stored in the posts store. Every function works on the `Instaloader`
of a `Scraper` and retries its requests through the scraper's `Waiter`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from http.cookiejar import LoadError, MozillaCookieJar
from pathlib import Path

import instaloader
from instaloader import exceptions as ilx

from instacap import paths
from instacap.errors import InputError, ScrapeError
from instacap.files import write_atomic
from instacap.instagram.failures import NETWORK, login_error
from instacap.instagram.waiting import Waiter


def session_file(user: str) -> Path:
    """Where the session of `user` is saved (sessions/<user>.json)."""
    return paths.sessions_dir() / f"{paths.validate_account(user)}.json"


def save_session(loader: instaloader.Instaloader) -> Path:
    """Write the session cookies to sessions/<user>.json, readable by the owner only."""
    user = loader.context.username
    assert user is not None
    dest = session_file(user)
    paths.ensure_dir(dest.parent)
    os.chmod(dest.parent, 0o700)
    # write_atomic's temporary file comes from mkstemp, always created 0600 and then renamed
    # over any older session file, so the cookies are never readable by others.
    write_atomic(dest, json.dumps(loader.context.save_session()).encode())  # type: ignore[no-untyped-call]
    return dest


def login(
    loader: instaloader.Instaloader,
    waiter: Waiter,
    user: str,
    ask_password: Callable[[str], str],
    ask_code: Callable[[], str],
) -> str:
    """Log in as `user`: saved session if any (ours, then instaloader's), else password.

    Returns where the session came from: "saved" or "password".
    """
    paths.validate_account(user)
    if _load_saved_session(loader, user) and waiter.call(loader.test_login) == user:
        return "saved"
    try:
        loader.login(user, ask_password(user))
    except ilx.TwoFactorAuthRequiredException:
        try:
            loader.two_factor_login(ask_code())
        except ilx.BadCredentialsException as exc:
            raise ScrapeError(
                "Instagram rejected the two-factor code; rerun and enter a fresh code."
            ) from exc
    except ilx.BadCredentialsException as exc:
        raise ScrapeError(
            f"Instagram rejected the password for {user}; rerun and try again."
        ) from exc
    except ilx.LoginException as exc:
        raise ScrapeError(login_error(user, exc)) from exc
    except NETWORK as exc:
        raise ScrapeError(
            f"Logging in as {user} failed ({exc}); check the connection and try again."
        ) from exc
    save_session(loader)
    return "password"


def load_cookies(
    loader: instaloader.Instaloader,
    waiter: Waiter,
    cookie_file: Path | None = None,
    browser: str | None = None,
) -> str:
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
    loader.context.update_cookies(cookies)  # type: ignore[no-untyped-call]
    user = waiter.call(loader.test_login)
    if not user:
        raise ScrapeError(
            "Instagram does not accept these cookies as a login (expired?); log in again in "
            "the browser and export fresh cookies."
        )
    loader.context.username = user
    save_session(loader)
    return user


def _load_saved_session(loader: instaloader.Instaloader, user: str) -> bool:
    ours = session_file(user)
    if ours.is_file():
        try:
            cookies = json.loads(ours.read_text())
            loader.load_session(user, cookies)
            return True
        except (ValueError, KeyError, TypeError):
            return False  # unreadable: log in again, which rewrites it
    theirs = Path(instaloader.instaloader.get_default_session_filename(user))
    if theirs.is_file():
        try:
            loader.load_session_from_file(user, str(theirs))
            return True
        except Exception:  # a pickle from another version: just log in again
            return False
    return False


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
