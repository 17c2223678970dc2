"""Account style: which account a caption is written as, given to the network beside the photo.

The network takes one conditioning vector per post. A run trained on several accounts appends a
one-hot of the post's account to the image features: one slot per account with at least
`MIN_POSTS` training posts, an "other" slot that the accounts with fewer share, and an "any" slot
that `ANY_SHARE` of the training posts (a fixed, seeded choice, so resuming sees the same) carry
instead of their own, so that a caption with no account asked for ("any", the default) still
learns from every account. The one-hot follows the photo's features in what the network reads
(`--encoder none` gives the one-hot alone); the network reads it through a branch of its own
(`ModelConfig.accounts`: a learned row per slot, added to the photo's branch after its
normalisation), and `Slots.names` is recorded in the run's meta.json (`accounts`) for `instacap
caption --as`. Runs trained before the branch existed read the one-hot with the photo.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from instacap.errors import InputError

OTHER, ANY = "other", "any"
MIN_POSTS = 5  # an account with fewer training posts shares the "other" slot
ANY_SHARE = 0.15  # training posts whose account is replaced by "any"


@dataclass(frozen=True)
class Slots:
    """The account slots of a run: its accounts by training posts (most first), then "other"
    and "any"."""

    names: tuple[str, ...]

    @classmethod
    def from_accounts(cls, accounts: Sequence[str]) -> Slots:
        """The slots for a training split whose posts have these accounts."""
        counts = Counter(accounts)
        known = sorted(
            (a for a, n in counts.items() if n >= MIN_POSTS), key=lambda a: (-counts[a], a)
        )
        return cls((*known, OTHER, ANY))

    @property
    def size(self) -> int:
        return len(self.names)

    @property
    def accounts(self) -> tuple[str, ...]:
        """The accounts the run can write as (not "other" or "any")."""
        return self.names[:-2]

    def index(self, accounts: Sequence[str]) -> np.ndarray:
        """Slot of each account [N]: its own, or "other" for one the run does not know."""
        where = {a: i for i, a in enumerate(self.names)}
        other = where[OTHER]
        return np.array([where.get(a, other) for a in accounts], dtype=np.int64)

    def onehot(self, slots: np.ndarray) -> np.ndarray:
        """slots [N] -> [N, size] float32."""
        out = np.zeros((len(slots), self.size), np.float32)
        out[np.arange(len(slots)), slots] = 1.0
        return out

    def training_slots(self, accounts: Sequence[str], seed: int) -> np.ndarray:
        """Slots of the training posts, with a seeded ANY_SHARE of them moved to "any"."""
        slots = self.index(accounts)
        rng = np.random.default_rng([seed, 0xACC])
        slots[rng.random(len(slots)) < ANY_SHARE] = self.size - 1
        return slots

    def asked(self, account: str | None, run: str) -> int:
        """The slot of `--as ACCOUNT` (None or "any": the "any" slot); InputError, in one
        sentence that lists the accounts the run knows, for one it does not."""
        name = (account or ANY).lstrip("@")
        if name == ANY:
            return self.size - 1
        if name not in self.accounts:
            known = ", ".join(self.accounts[:20]) + (", ..." if len(self.accounts) > 20 else "")
            raise InputError(
                f"Run {run!r} does not know the account {name!r}; use --as with one of: "
                f"{known} (or any)."
            )
        return self.names.index(name)


def for_training(accounts: Sequence[str]) -> Slots | None:
    """The slots of a run trained on posts of these accounts; None when fewer than two accounts
    have `MIN_POSTS` posts (one voice: nothing to choose between)."""
    slots = Slots.from_accounts(accounts)
    return slots if len(slots.accounts) >= 2 else None


def width(image_dim: int, slots: Slots | None) -> int:
    """What a network conditioned on these slots reads per post."""
    return image_dim + (slots.size if slots else 0)


def record(meta: Any, slots: Slots | None) -> Any:
    """A run's description (`runs.RunMeta`) naming its account slots in meta.json."""
    return replace(meta, extra={**meta.extra, "accounts": list(slots.names)}) if slots else meta


def of_run(meta: Any) -> Slots | None:
    """The slots a run (its `runs.RunMeta`) was trained with; None for a run trained before
    account style, or on a single account's posts."""
    names = meta.extra.get("accounts") if hasattr(meta, "extra") else None
    if not isinstance(names, list) or len(names) < 2:
        return None
    return Slots(tuple(str(n) for n in names))


def conditioning_dim(meta: Any) -> int:
    """What the run's network reads per post: its image features and its account slots."""
    return width(int(meta.feature_dim), of_run(meta))


def condition(feats: np.ndarray, slots: Slots | None, which: np.ndarray | int) -> np.ndarray:
    """Image features feats [N, D] with the one-hot of slot `which` (one per row, or one for
    all) appended -> [N, D + slots]; feats unchanged without slots."""
    if slots is None:
        return np.asarray(feats, np.float32)
    index = np.broadcast_to(np.asarray(which, np.int64), (len(feats),))
    return np.concatenate([np.asarray(feats, np.float32), slots.onehot(index)], axis=1)
