"""Grapheme tokens: what a caption is made of, as the model sees it.

A token is one extended grapheme cluster (`regex`'s `\\X`), so an emoji with a skin tone, a flag or a
ZWJ family stays one token, and a letter with its combining accents too. Text is normalised first
(NFC; `\\r\\n` and `\\r` become `\\n`; other control characters such as NUL are dropped) and newlines
are kept as a token. Tokens seen fewer than `min_count` times become UNK.

For any text whose tokens are all in the vocabulary, `vocab.decode(vocab.encode(text, n))` gives back
`normalize(text)` exactly (`text` itself when it was already normal) as long as it fits in `n`.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS: tuple[str, ...] = ("<pad>", "<bos>", "<eos>", "<unk>")
# What an UNK token looks like when decoded: the Unicode replacement character.
UNK_TEXT = "\ufffd"

_CLUSTER = regex.compile(r"\X")
_KEEP_CONTROLS = frozenset("\n\t")


def normalize(text: str) -> str:
    """NFC, one kind of newline, and no control characters other than newline and tab."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    if any(unicodedata.category(c) == "Cc" and c not in _KEEP_CONTROLS for c in text):
        text = "".join(c for c in text if c in _KEEP_CONTROLS or unicodedata.category(c) != "Cc")
        # Dropping a control character can bring a base letter and a combining mark together.
        text = unicodedata.normalize("NFC", text)
    return text


def graphemes(text: str) -> list[str]:
    """The tokens of `text`: extended grapheme clusters of its normalised form."""
    return _CLUSTER.findall(normalize(text))


@dataclass(frozen=True)
class Vocab:
    """Token strings by id; ids 0..3 are PAD, BOS, EOS, UNK."""

    tokens: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if tuple(self.tokens[:4]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with {SPECIALS}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("a vocabulary must not repeat a token")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @property
    def size(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        return self._index.get(token, UNK)

    def encode(self, text: str, max_len: int) -> list[int]:
        """`[BOS, tokens..., EOS]`, at most `max_len` ids in all.

        A caption too long to fit is cut and then has no EOS: it did not end there, and the model
        should not learn to stop mid-sentence.
        """
        if max_len < 2:
            raise ValueError("max_len must leave room for BOS and EOS (>= 2)")
        ids = [BOS, *(self.id(t) for t in graphemes(text)), EOS]
        return ids[:max_len]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`: BOS and PAD dropped, stops at EOS, UNK shown as U+FFFD."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i in (BOS, PAD):
                continue
            out.append(UNK_TEXT if i == UNK or not 0 <= i < len(self.tokens) else self.tokens[i])
        return "".join(out)

    def pieces(self, ids: Sequence[int]) -> list[str]:
        """The token string of each id (specials as `<bos>` etc.), for display."""
        return [self.tokens[i] if 0 <= i < len(self.tokens) else SPECIALS[UNK] for i in ids]

    def to_json(self) -> dict[str, Any]:
        return {"format": "instacap-vocab/1", "tokens": list(self.tokens)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Vocab:
        tokens = d.get("tokens") if isinstance(d, dict) else None
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError("not an instacap vocabulary (no list of tokens)")
        return cls(tuple(tokens))


def count(captions: Iterable[str]) -> Counter[str]:
    """How often each token occurs in `captions`."""
    counts: Counter[str] = Counter()
    for caption in captions:
        counts.update(graphemes(caption))
    return counts


def build_vocab(captions: Iterable[str], min_count: int) -> Vocab:
    """Tokens seen at least `min_count` times, most frequent first (ties in code point order)."""
    counts = count(captions)
    kept = sorted(
        (t for t, n in counts.items() if n >= max(1, min_count)), key=lambda t: (-counts[t], t)
    )
    return Vocab((*SPECIALS, *kept))
