"""The seed accounts: a ready list of verified public accounts to scrape, so that anyone can
rebuild a data set like the one of the student project instacap grew from (58 verified celebrity
accounts, about 100 posts each). The list is package data (`seed_accounts.txt`, one account per
line, `#` starts a comment); it is in the spirit of that project's list, not a copy of it."""

from __future__ import annotations

from importlib import resources

from instacap import paths

SEED_FILE = "seed_accounts.txt"


def accounts() -> list[str]:
    """The seed accounts in the file's order, each a valid Instagram name, without repeats."""
    text = resources.files("instacap").joinpath(SEED_FILE).read_text(encoding="utf-8")
    names: list[str] = []
    for line in text.splitlines():
        name = line.split("#", 1)[0].strip()
        if name and name not in names:
            names.append(paths.validate_account(name))
    return names
