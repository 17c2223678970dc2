"""The guards of decoding (`guarded`): no special token, no run of one token past `max_repeat`,
and the repeated-hashtag guard: a caption never writes the same `#tag` twice.

A character model that has just written "#love " finds "#love" likely again, and again: the
"#love #love #love" loop. The guard follows each caption as it is written (the tag in progress
and the tags finished, compared case-insensitively, as Instagram does) and, while the tag in
progress spells one already written, forbids every token that would end it: the caption may go
on to "#lovely", never to a second "#love". Sampling and beam search both use it.
"""

from __future__ import annotations

import numpy as np
import regex

from instacap.tokenizer import BOS, PAD, UNK, Vocab

# Tokens that are never written: padding, a second BOS, and UNK (it would print as U+FFFD).
_NEVER = [PAD, BOS, UNK]
_WORD = regex.compile(r"\w+")  # what continues a hashtag (metrics counts tags as #\w+ too)


class TagGuard:
    """The tags of `rows` captions being decoded together, one step at a time."""

    def __init__(self, vocab: Vocab, rows: int) -> None:
        # [V] True for tokens that continue a tag; specials (EOS included) end it.
        self.word = np.array(
            [i >= 4 and bool(_WORD.fullmatch(t)) for i, t in enumerate(vocab.tokens)], dtype=bool
        )
        self.hash = vocab.tokens.index("#") if "#" in vocab.tokens else -1
        self.current: list[str | None] = [None] * rows  # the tag being written, '#' excluded
        self.done: list[set[str]] = [set() for _ in range(rows)]
        self.tokens = vocab.tokens

    def block(self, logits: np.ndarray) -> None:
        """logits [rows, V], in place: rows writing a tag they already wrote may not end it."""
        if self.hash < 0:
            return
        for b, tag in enumerate(self.current):
            # Only while some token could still continue the tag (never a row with no choice).
            if tag and tag in self.done[b] and np.isfinite(logits[b, self.word]).any():
                logits[b, ~self.word] = -np.inf

    def advance(self, choice: np.ndarray) -> None:
        """Record the tokens chosen for each row, choice [rows]."""
        if self.hash < 0:
            return
        for b, tok in enumerate(choice.tolist()):
            tag = self.current[b]
            if tag is not None and self.word[tok]:
                self.current[b] = tag + self.tokens[tok].lower()
                continue
            if tag:  # a token that is not part of a word ends the tag
                self.done[b].add(tag)
            self.current[b] = "" if tok == self.hash else None

    def reorder(self, rows: np.ndarray) -> None:
        """Row i continues from row rows[i] (beam search keeps the best continuations)."""
        self.current = [self.current[r] for r in rows.tolist()]
        self.done = [set(self.done[r]) for r in rows.tolist()]


def guarded(
    logits: np.ndarray, last: np.ndarray, run: np.ndarray, max_repeat: int, tags: TagGuard | None
) -> np.ndarray:
    """A copy of logits [B, V] with what may never be written next at -inf: the special tokens,
    a token that already ran `max_repeat` times in a row (no caption collapses into one character
    repeated to the length cap) and the end of a hashtag the caption already wrote."""
    logits = logits.copy()
    logits[:, _NEVER] = -np.inf
    if max_repeat > 0:
        blocked = np.flatnonzero(run >= max_repeat)
        logits[blocked, last[blocked]] = -np.inf
    if tags is not None:
        tags.block(logits)
    return logits
