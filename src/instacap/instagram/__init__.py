"""Scraping Instagram through instaloader: the only package that imports it."""

from instacap.instagram.scraper import (
    PACE_TASK,
    PINNED_MAX,
    WAIT_TASK,
    AccountResult,
    Scraper,
    ScrapeSummary,
    Waiter,
    account_error,
    is_rate_limit,
    scrape,
)

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
