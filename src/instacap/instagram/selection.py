"""Which posts of a feed are the N most recent photo posts, decided as the feed streams by.

Instagram lets an account pin up to three posts above the others, so the feed is in date order
only after its first PINNED_MAX entries; the result is still the N most recent photo posts.
"""

from __future__ import annotations

from instacap.instagram.feed import Candidate

PINNED_MAX = 3  # Instagram lets an account pin up to three posts above the others


class Selection:
    """Decides, as the feed streams by, which posts belong to the N most recent photo posts.

    Entries after the first PINNED_MAX come newest first, so when such an entry arrives every
    newer post has been seen and its fate is known at once. The first PINNED_MAX entries may be
    pinned (old) posts: they are held until an older post shows everything newer has been seen.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen: list[Candidate] = []
        self.held: list[Candidate] = []
        self.index = 0

    def newer(self, cand: Candidate) -> int:
        return sum(1 for c in self.seen if c.eligible and c.when > cand.when)

    def add(self, cand: Candidate) -> tuple[list[Candidate], bool]:
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

    def finish(self) -> list[Candidate]:
        """The feed ended: every entry still held is decided now."""
        ready, self.held = self.held, []
        return ready

    def wanted(self, cand: Candidate) -> bool:
        return cand.eligible and self.newer(cand) < self.n
