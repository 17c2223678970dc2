"""Grapheme tokens: emoji stay whole, text round-trips, rare tokens become UNK."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instacap.tokenizer import (
    BOS,
    EOS,
    PAD,
    UNK,
    UNK_TEXT,
    Vocab,
    build_vocab,
    graphemes,
    normalize,
)

FAMILY = "👩\u200d👩\u200d👧\u200d👦"  # ZWJ sequence
WAVE_DARK = "👋🏿"  # skin tone modifier
FLAG_FR = "🇫🇷"  # regional indicator pair
E_ACUTE_DECOMPOSED = "e\u0301"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (FAMILY + "!", [FAMILY, "!"]),
        (WAVE_DARK + WAVE_DARK, [WAVE_DARK, WAVE_DARK]),
        (FLAG_FR + "🇯🇵", [FLAG_FR, "🇯🇵"]),
        ("caf" + E_ACUTE_DECOMPOSED, ["c", "a", "f", "é"]),  # NFC composes it
        ("a\r\nb\rc\n", ["a", "\n", "b", "\n", "c", "\n"]),
        ("a\x00b\x07c\td", ["a", "b", "c", "\t", "d"]),  # NUL/BEL dropped, tab kept
        ("שלום עולם", list("שלום עולם")),  # RTL stays in logical order
        ("", []),
    ],
)
def test_graphemes(text, expected):
    assert graphemes(text) == expected


def test_encode_adds_bos_eos_and_decode_inverts():
    caption = f"Sunset at the beach {WAVE_DARK}{FLAG_FR}\n#travel {FAMILY}"
    vocab = build_vocab([caption], min_count=1)
    ids = vocab.encode(caption, max_len=150)
    assert ids[0] == BOS and ids[-1] == EOS
    assert len(ids) == len(graphemes(caption)) + 2
    assert vocab.decode(ids) == caption
    assert vocab.decode([*ids, PAD, PAD]) == caption


def test_long_caption_is_cut_without_eos():
    vocab = build_vocab(["abc"], min_count=1)
    ids = vocab.encode("abc" * 100, max_len=10)
    assert len(ids) == 10 and ids[0] == BOS and EOS not in ids
    assert vocab.decode(ids) == "abcabcabc"
    assert vocab.encode("ab", max_len=4) == [BOS, vocab.id("a"), vocab.id("b"), EOS]
    with pytest.raises(ValueError):
        vocab.encode("a", max_len=1)


def test_decode_stops_at_eos_and_skips_specials():
    vocab = build_vocab(["ab"], min_count=1)
    a, b = vocab.id("a"), vocab.id("b")
    assert vocab.decode([BOS, a, PAD, b, EOS, a, a]) == "ab"
    assert vocab.decode([a, UNK, b]) == f"a{UNK_TEXT}b"


def test_min_count_threshold_makes_rare_tokens_unk():
    captions = ["aaab", "aab", "c"]  # a:5 b:2 c:1
    vocab = build_vocab(captions, min_count=2)
    assert vocab.tokens[4:] == ("a", "b")  # most frequent first
    assert vocab.id("c") == UNK and vocab.id("🙂") == UNK
    assert vocab.encode("cab", 10) == [BOS, UNK, vocab.id("a"), vocab.id("b"), EOS]
    assert build_vocab(captions, min_count=6).size == 4  # only the specials


def test_vocab_order_is_deterministic():
    one = build_vocab(["xyz", "zyx", "ab"], min_count=1)
    two = build_vocab(["ab", "zyx", "xyz"], min_count=1)
    assert one == two


def test_json_round_trip_and_validation():
    vocab = build_vocab([FAMILY + "hi\n"], min_count=1)
    again = Vocab.from_json(json.loads(json.dumps(vocab.to_json())))
    assert again == vocab and again.id(FAMILY) == vocab.id(FAMILY)
    with pytest.raises(ValueError):
        Vocab.from_json({"tokens": ["a", "b"]})
    with pytest.raises(ValueError):
        Vocab.from_json({"nope": 1})
    with pytest.raises(ValueError):
        Vocab(("<pad>", "<bos>", "<eos>", "<unk>", "a", "a"))


_EMOJI = st.sampled_from([FAMILY, WAVE_DARK, FLAG_FR, "🙂", "❤️", "🏳️‍🌈"])
_TEXT = st.lists(
    st.one_of(st.text(max_size=8), _EMOJI, st.sampled_from(["\n", "\r\n", "\x00", "\u0301"])),
    max_size=12,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_round_trip_when_all_tokens_known(text):
    vocab = build_vocab([text], min_count=1)
    ids = vocab.encode(text, max_len=len(text) + 2)
    assert vocab.decode(ids) == normalize(text)
    assert graphemes(vocab.decode(ids)) == graphemes(text)
    assert normalize(normalize(text)) == normalize(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(_TEXT, max_size=5), st.integers(1, 4), st.integers(2, 20))
def test_encode_shape_invariants(captions, min_count, max_len):
    vocab = build_vocab(captions, min_count)
    for caption in captions:
        ids = vocab.encode(caption, max_len)
        assert 2 <= len(ids) <= max_len
        assert ids[0] == BOS
        assert all(0 <= i < vocab.size for i in ids)
        assert PAD not in ids
