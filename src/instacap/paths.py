"""Where things live in the cache directory, and the naming rules for what goes there.

The root is read at call time (never at import time) so that tests and users can point
`INSTACAP_HOME` elsewhere at any moment.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from instacap.errors import CacheError, InputError

ENV_HOME = "INSTACAP_HOME"

# Instagram's own rule for user names; checked before a name reaches the filesystem or the network.
_ACCOUNT = re.compile(r"[A-Za-z0-9._]{1,30}")
# Names of runs and data sets become folder names: keep them boring.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def home() -> Path:
    """The cache root: `$INSTACAP_HOME` if set, else the platform's user cache folder."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("instacap", appauthor=False))


def posts_root(demo: bool = False) -> Path:
    """Folder holding a posts store (`posts.db` + `posts/`); the demo data has its own, apart."""
    return home() / "demo" if demo else home()


def features_dir() -> Path:
    return home() / "features"


def datasets_dir() -> Path:
    return home() / "datasets"


def runs_dir() -> Path:
    return home() / "runs"


def sessions_dir() -> Path:
    """Saved Instagram login sessions (files are created 0600)."""
    return home() / "sessions"


def ensure_dir(path: Path) -> Path:
    """Create `path` (and parents) or explain in one sentence why that is impossible."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from instacap import files  # files imports this module

        if files.is_disk_full(exc):
            raise files.disk_full(path) from exc
        raise CacheError(
            f"Cannot create the folder {path} ({exc.strerror or exc}); "
            f"check its permissions or point {ENV_HOME} at a writable folder."
        ) from exc
    if not os.access(path, os.W_OK):
        raise CacheError(
            f"The folder {path} is not writable; fix its permissions "
            f"or point {ENV_HOME} at a writable folder."
        )
    return path


def validate_account(name: str) -> str:
    """Return `name` if it is a valid Instagram user name, else raise InputError."""
    if not _ACCOUNT.fullmatch(name or ""):
        raise InputError(
            f"{name!r} is not a valid Instagram account name; use 1-30 letters, digits, '.' or '_'."
        )
    return name


def validate_name(name: str, what: str = "name") -> str:
    """Return `name` if it is safe as a run or data set folder name, else raise InputError."""
    if not _NAME.fullmatch(name or ""):
        raise InputError(
            f"{name!r} is not a valid {what}; use up to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return name
