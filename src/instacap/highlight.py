"""What to colour in a caption: hashtags, mentions, URLs, emoji, and the characters the model was
unsure of. One classification, shared by the terminal (`render.caption_text`) and the HTML pages
(`report`), so a caption looks the same in both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Kinds of marked spans, in the order they claim characters (a URL's '#fragment' is no hashtag).
KINDS = ("url", "hashtag", "mention", "emoji")
_PATTERNS = (
    ("url", r"(?:https?://|www\.)\S+"),
    ("hashtag", r"#[\w]+"),
    ("mention", r"@[\w.]+[\w]"),
    ("emoji", r"(?:\p{Extended_Pictographic}|\p{Regional_Indicator})\X*?(?=\P{M}|$)"),
)
# Below these probabilities a token is shaded: the model was unsure of it.
UNSURE, VERY_UNSURE = 0.5, 0.2


@dataclass(frozen=True)
class Piece:
    """A run of caption text with one look: `kind` one of KINDS or None, `doubt` "unsure",
    "very unsure" or None."""

    text: str
    kind: str | None = None
    doubt: str | None = None


def spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) character spans of URLs, hashtags, mentions and emoji in `text`."""
    import regex

    found: list[tuple[int, int, str]] = []
    taken = [False] * len(text)
    for kind, pattern in _PATTERNS:
        for m in regex.finditer(pattern, text):
            if not any(taken[m.start() : m.end()]):
                found.append((m.start(), m.end(), kind))
                for i in range(m.start(), m.end()):
                    taken[i] = True
    return found


def doubt(p: float) -> str | None:
    """ "very unsure" below 20%, "unsure" below 50%, else None."""
    if p < VERY_UNSURE:
        return "very unsure"
    if p < UNSURE:
        return "unsure"
    return None


def pieces(tokens: Sequence[str] | str, probs: Sequence[float] | None = None) -> list[Piece]:
    """A caption cut into runs of equal look. `tokens` is the caption's tokens with `probs` the
    model's probability of each (sampling.Caption), or plain text (a real caption: no doubt)."""
    parts = [tokens] if isinstance(tokens, str) else list(tokens)
    text = "".join(parts)
    kind: list[str | None] = [None] * len(text)
    for start, end, k in spans(text):
        kind[start:end] = [k] * (end - start)
    unsure: list[str | None] = [None] * len(text)
    if probs is not None and not isinstance(tokens, str):
        pos = 0
        for part, p in zip(parts, probs, strict=False):
            unsure[pos : pos + len(part)] = [doubt(p)] * len(part)
            pos += len(part)
    out: list[Piece] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or (kind[i], unsure[i]) != (kind[start], unsure[start]):
            out.append(Piece(text[start:i], kind[start], unsure[start]))
            start = i
    return out
