"""`instacap scrape`: the newest photo posts of public accounts, resumable under rate limits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from instacap.cli.app import EXIT_ERROR, app
from instacap.config import ScrapeConfig

_D = ScrapeConfig()
SEED_COUNT = 58  # lines of seed_accounts.txt (a test checks); not read here so --help stays light


def _accounts(values: list[str] | None) -> list[str]:
    # Checked before anything touches the network or the cache (exit code 2, like bad usage).
    from instacap import paths
    from instacap.errors import InputError

    values = values or []
    for value in values:
        try:
            paths.validate_account(value.lstrip("@"))
        except InputError as exc:
            raise typer.BadParameter(str(exc)) from None
    return [v.lstrip("@") for v in values]


@app.command()
def scrape(
    # Long because Typer reads every option from this signature: one typed, documented
    # parameter per option. The body itself is parse, call, render.
    accounts: Annotated[
        list[str] | None,
        typer.Argument(
            help="Instagram account names (a leading @ is fine).",
            callback=_accounts,
            metavar="ACCOUNT",
            show_default=False,
        ),
    ] = None,
    seed_accounts: Annotated[
        bool,
        typer.Option(
            "--seed-accounts",
            help=f"Also scrape the {SEED_COUNT} verified public accounts kept in the package "
            "(celebrities, athletes, brands), a list in the spirit of the student project "
            f"instacap grew from: about {SEED_COUNT * _D.max_posts:,} posts at the default "
            "--max-posts. Rate limits make that a long job (hours); rerun the same command to "
            "resume it.",
        ),
    ] = False,
    max_posts: Annotated[
        int,
        typer.Option(
            "--max-posts", "-n", min=1, help="Most recent photo posts to keep per account."
        ),
    ] = _D.max_posts,
    delay: Annotated[
        float,
        typer.Option(
            "--delay", min=0.0, help="Seconds between requests to Instagram; raise it to go gently."
        ),
    ] = _D.delay,
    max_wait: Annotated[
        float,
        typer.Option(
            "--max-wait",
            min=0.0,
            help="Seconds of rate-limit waiting allowed in all (back-off doubles from "
            f"{_D.first_wait:.0f} s); then it stops cleanly and a rerun resumes.",
        ),
    ] = _D.max_wait,
    login: Annotated[
        str | None,
        typer.Option(
            "--login",
            "-l",
            help="Log in as this Instagram user: reuses the saved session, else asks for the "
            "password (not echoed) and a two-factor code if needed.",
        ),
    ] = None,
    cookies: Annotated[
        Path | None,
        typer.Option(
            "--cookies",
            dir_okay=False,
            help="Use the login of a browser: a Netscape cookies.txt exported from instagram.com.",
        ),
    ] = None,
    browser_cookies: Annotated[
        str | None,
        typer.Option(
            "--browser-cookies",
            help="Read the login straight from a browser (chrome, firefox, ...); needs the "
            "browser-cookie3 package.",
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout.")
    ] = False,
) -> None:
    """Download the newest photo posts (first photo + caption) of ACCOUNTS into the posts store.

    Already stored posts are never fetched again, so rerunning the same command resumes an interrupted or rate-limited run. Videos, carousels that start with a video and posts without a caption are skipped. Examples: instacap scrape natgeo nasa --max-posts 50 · instacap scrape --seed-accounts. See docs/scraping.md for logging in and rate limits.
    """
    from instacap import instagram
    from instacap.cli import render
    from instacap.posts import PostStore
    from instacap.progress import SILENT

    if sum(x is not None for x in (login, cookies, browser_cookies)) > 1:
        raise typer.BadParameter("Use only one of --login, --cookies and --browser-cookies.")
    accounts = list(accounts or [])
    if seed_accounts:
        from instacap import seeds

        seeded = seeds.accounts()
        accounts += [a for a in seeded if a not in accounts]
        render.info(
            f"{len(seeded)} seed accounts, about {len(seeded) * max_posts:,} posts: under "
            "Instagram's rate limits this takes hours; rerun the same command to resume."
        )
    if not accounts:
        raise typer.BadParameter("Name at least one ACCOUNT to scrape, or use --seed-accounts.")
    config = ScrapeConfig(
        max_posts=max_posts, delay=delay, max_wait=max_wait, first_wait=_D.first_wait
    )
    with PostStore.open() as store:
        scraper = instagram.Scraper(store, config, SILENT)
        try:
            if login is not None:
                how = scraper.login(login, _ask_password, _ask_code)
                render.info(
                    f"Logged in as {login} ({'saved session' if how == 'saved' else 'session saved'})."
                )
            elif cookies is not None or browser_cookies is not None:
                user = scraper.load_cookies(cookies, browser_cookies)
                render.info(
                    f"Logged in as {user} from cookies; next time --login {user} reuses it."
                )
            with render.reporting() as reporter:
                scraper.use_reporter(reporter)
                summary = scraper.scrape(accounts)
        finally:
            scraper.close()
        total = store.count()
    _report(summary, total)
    if json_out:
        render.print_json(summary.to_json() | {"total_in_store": total})
    if not summary.ok:
        raise typer.Exit(EXIT_ERROR)


def _ask_password(user: str) -> str:
    return str(typer.prompt(f"Instagram password for {user}", hide_input=True, err=True))


def _ask_code() -> str:
    return str(typer.prompt("Two-factor code from your app or SMS", err=True)).strip()


def _report(summary: object, total: int) -> None:
    from instacap.cli import render
    from instacap.instagram import ScrapeSummary

    assert isinstance(summary, ScrapeSummary)
    for a in summary.accounts:
        if a.status == "failed":
            render.error(a.error or f"@{a.account} failed.")
            continue
        if a.status == "not run":
            render.warn(f"@{a.account}: not started (run stopped); rerun to get it.")
            continue
        skipped = ", ".join(f"{why} {n}" for why, n in sorted(a.skipped.items()))
        render.info(
            f"@{a.account}: {a.stored} new, {a.already} already stored, "
            f"{sum(a.skipped.values())} skipped" + (f" ({skipped})" if skipped else "")
        )
    render.info(
        f"Total: {summary.stored} new posts this run; {total} posts in the store"
        + (f"; waited {summary.waited_s:.0f} s for rate limits." if summary.waited_s else ".")
    )
    if summary.stopped:
        render.error(summary.stopped)
