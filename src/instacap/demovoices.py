"""The demo accounts' voices and the phrases, emoji and hashtags they write with: `caption` writes
one made-up caption of a scene in an account's voice (short ones as often as on Instagram).
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass

from instacap.demoscenes import SCENE_WORDS, scene_of

# -- captions --------------------------------------------------------------------------------

# Per scene: phrases ({n} = a scene noun), emoji (some with skin tones or ZWJ sequences) and tags.
_NOUNS: dict[str, tuple[str, ...]] = {
    "beach": ("beach", "shore", "seaside", "ocean"),
    "sunset": ("sunset", "dusk", "afterglow", "sundown"),
    "mountain": ("mountain", "summit", "peak", "alps"),
    "forest": ("forest", "woods", "pines", "woodland"),
    "city_night": ("city", "skyline", "downtown", "city lights"),
    "coffee": ("coffee", "latte", "espresso", "cappuccino", "flat white coffee"),
    "stars": ("stars", "milky way", "galaxy", "cosmos"),
    "flowers": ("flowers", "tulips", "roses", "blossoms", "daisies"),
    "desert": ("desert", "dunes", "sahara", "cactus"),
    "lake": ("lake", "lakeside", "lakeshore", "dock"),
}
_PHRASES: dict[str, tuple[str, ...]] = {
    "beach": (
        "salt in the air and sand between my toes, {n} all day",
        "chasing waves all afternoon",
        "another lazy day at the {n}",
        "found the quietest {n} on the island",
        "{n} days are the best days",
        "nothing beats the {n} at 7am",
        "surf was pumping today",
        "collecting seashells and good moods",
    ),
    "sunset": (
        "the {n} painted everything orange",
        "chasing the {n} again",
        "golden light, then {n}",
        "every {n} is a little goodbye",
        "sky on fire at {n}",
        "stayed out until the last bit of {n}",
        "pink and purple {n} tonight",
        "one more {n} for the collection",
    ),
    "mountain": (
        "made it to the {n}",
        "snowy ridges as far as I can see",
        "thin air, big views from the {n}",
        "the {n} was worth every step",
        "alpine mornings hit different",
        "fresh snow on the {n} today",
        "up above the clouds on the {n}",
        "snowcapped and quiet",
    ),
    "forest": (
        "lost in the {n} again",
        "green everywhere in the {n}",
        "moss, ferns and silence",
        "a slow walk through the {n}",
        "the {n} smelled like rain",
        "tall trees and tiny me",
        "sunbeams through the {n}",
        "deep in the {n} with no signal",
    ),
    "city_night": (
        "{n} glowing after dark",
        "lights on all over the {n}",
        "neon reflections on wet streets",
        "rooftop views of the {n}",
        "the {n} never sleeps",
        "late walk through {n} tonight",
        "streetlights and taxis",
        "this {n} at 2am though",
    ),
    "coffee": (
        "first {n} of the day",
        "but first, {n}",
        "{n} and a good book",
        "the barista nailed the latte art",
        "fuelled by {n}",
        "a warm mug of {n} on a cold morning",
        "new cafe, same {n} order",
        "{n} o'clock somewhere",
    ),
    "stars": (
        "counting {n} tonight",
        "the {n} was out in full",
        "a sky full of {n}",
        "stargazing far from any lights",
        "we are made of {n}",
        "lay in the grass and watched the {n}",
        "constellations everywhere",
        "the {n} did not disappoint",
    ),
    "flowers": (
        "fresh {n} for the table",
        "the {n} are finally blooming",
        "stopped to smell the {n}",
        "petals everywhere today",
        "a bouquet of {n} just because",
        "spring means {n}",
        "the garden is full of {n}",
        "picked some {n} on the way home",
    ),
    "desert": (
        "endless {n} in every direction",
        "sand dunes and blue sky",
        "hot days in the {n}",
        "the {n} is quieter than you think",
        "walking the {n} at first light",
        "a lone cactus and me",
        "ripples on the {n}",
        "somewhere in the {n}",
    ),
    "lake": (
        "glassy water on the {n}",
        "morning paddle on the {n}",
        "a canoe and a calm {n}",
        "dock days all summer",
        "the {n} was like a mirror",
        "skipping stones at the {n}",
        "kayak out, phone off",
        "lazy afternoon at the {n}",
    ),
}
_EMOJI: dict[str, tuple[str, ...]] = {
    "beach": ("🏖️", "🌊", "🐚", "🏄🏽‍♂️", "🏄‍♀️", "☀️", "🩴"),
    "sunset": ("🌅", "🧡", "🌇", "🔥", "💜", "🌄"),
    "mountain": ("🏔️", "⛰️", "🧗🏽‍♀️", "❄️", "⛷️", "🥾"),
    "forest": ("🌲", "🌿", "🍄", "🌳", "🚶🏾‍♀️", "🦉"),
    "city_night": ("🌃", "🏙️", "🚕", "🕺🏻", "🌆", "💡"),
    "coffee": ("☕", "🥐", "🤎", "👩🏽‍💻", "🧁", "☕️"),
    "stars": ("✨", "🌌", "🔭", "🌠", "🧑‍🚀", "🌙"),
    "flowers": ("🌸", "🌷", "🌻", "💐", "🌼", "👩🏼‍🌾", "🌹"),
    "desert": ("🌵", "🐪", "🏜️", "☀️", "🦎", "🧕🏽"),
    "lake": ("🛶", "🦆", "💧", "🚣‍♀️", "🏞️", "🎣"),
}
# Sorted: iterating a frozenset of strings follows Python's per-process hash seed, which would
# make the "deterministic for a seed" demo captions differ from one run to the next.
_TAGS: dict[str, tuple[str, ...]] = {
    s: tuple(sorted(w for w in words if w.startswith("#"))) for s, words in SCENE_WORDS.items()
}
_GENERIC_TAGS = (
    "#travel",
    "#photooftheday",
    "#instagood",
    "#weekendvibes",
    "#explore",
    "#nofilter",
    "#happyplace",
    "#wanderlust",
)


@dataclass(frozen=True)
class _Voice:
    """A fictional account: which scenes it posts (weights follow SCENES) and how it writes."""

    name: str
    weights: tuple[int, ...]
    templates: tuple[str, ...]
    openers: tuple[str, ...]
    closers: tuple[str, ...]
    lowercase: bool = False


# Template fields: {p} scene phrase, {P} capitalised, {e}/{e2} emoji, {tags}, {gt} generic tag,
# {m} a mention of another demo account, {o} opener, {c} closer, {d} a day number.
ACCOUNTS: tuple[_Voice, ...] = (
    _Voice(
        "demo.wanderer",
        (3, 2, 4, 3, 2, 1, 2, 1, 4, 3),
        (
            "Day {d}: {p}. {c} {e}",
            "{P} {e}\n\n{tags} {gt}",
            "{o} {p} {e}{e2}",
            "{P} with {m} {e}\n{gt}",
            "{P}.\n{c}",
        ),
        ("Still thinking about this one:", "Road trip notes:", "Postcard from today:", ""),
        ("Next stop tomorrow.", "Would go back in a heartbeat.", "Pinch me.", "More soon."),
    ),
    _Voice(
        "demo_beans",
        (1, 1, 1, 2, 2, 6, 1, 3, 1, 2),
        (
            "{p} {e}",
            "slow morning, {p} {e}",
            "{p} {e} {tags}",
            "{o} {p} {e}\nsee you {c}",
            "{p} w/ {m} {e}",
        ),
        ("today:", "quiet one:", "little joys:", ""),
        ("tomorrow", "at the usual table", "soon", "next week"),
        lowercase=True,
    ),
    _Voice(
        "demo.nightowl",
        (1, 4, 2, 1, 4, 1, 6, 1, 2, 2),
        (
            "{P}…\n{c} {e}",
            "{P} {e}",
            "{o}\n{p} {e}{e2}",
            "{P}. {c}\n{tags}",
            "{P} {e} (thanks {m} for waking me up)",
        ),
        ("3am thoughts:", "Out past midnight:", "Quiet hours.", ""),
        ("Worth the lost sleep.", "Time felt slow.", "Tiny and happy.", "Again soon."),
    ),
    _Voice(
        "demo.greenthumb",
        (1, 1, 1, 4, 1, 2, 1, 7, 1, 2),
        (
            "{e}{e2}{e} {P}! {e}\n{tags}",
            "{P} {e}{e}",
            "{e} {p} {e2} {gt}",
            "{P}!! {c} {e}\n{m} look {e2}",
            "{o} {p} {e}{e2}",
        ),
        ("Happy Monday!", "Good morning!", "Update:", ""),
        ("So happy!", "Love this!", "Can't stop smiling!", "Yay!"),
    ),
    _Voice(
        "demo.metrokid",
        (1, 2, 1, 1, 7, 2, 2, 1, 1, 1),
        (
            "{o} {p} {e}",
            "{p} no filter {e}",
            "{p} {e} {c}",
            "{p} ft {m} {e}{e2}",
            "{p}\n\n{tags}",
        ),
        ("lowkey", "ngl", "pov:", "honestly"),
        ("fr", "10/10", "again tmrw", "vibes"),
        lowercase=True,
    ),
    _Voice(
        "demo.saltyhair",
        (7, 3, 1, 1, 1, 2, 1, 1, 2, 3),
        (
            "{P}!! 🤙 {e}",
            "{o} {p} {e}\n{tags}",
            "{P} {e} {c}",
            "{P} with the crew {m} {e}{e2}",
            "{P}.\n{gt} {tags}",
        ),
        ("Stoked:", "Dawn patrol.", "Best day ever:", ""),
        ("Stoked!", "Good vibes only.", "Same time tomorrow?", "Yew!"),
    ),
)


# Real Instagram captions are short (median about 31 characters, DESIGN §7): this share of the
# demo posts gets a caption of a few words instead of a voice's sentence.
_SHORT_SHARE = 0.47
_SHORT = ("{n} {e}", "{n} {e}{e2}", "{e} {n} {e}", "{N}.", "{n} mood {e}", "{n} {e} {t}", "{t}",
          "{N} again {e}", "{N}!!", "{n} 🤍")  # fmt: skip


def caption(rng: random.Random, scene: str, voice: _Voice) -> str:
    if rng.random() < _SHORT_SHARE:
        return _short_caption(rng, scene, voice)
    phrase = rng.choice(_PHRASES[scene]).replace("{n}", rng.choice(_NOUNS[scene]))
    tags = rng.sample(_TAGS[scene], k=rng.randint(1, 3))
    if rng.random() < 0.5:
        tags.append(rng.choice(_GENERIC_TAGS))
    others = [a.name for a in ACCOUNTS if a.name != voice.name]
    fields = {
        "p": phrase,
        "P": phrase[0].upper() + phrase[1:],
        "e": rng.choice(_EMOJI[scene]),
        "e2": rng.choice(_EMOJI[scene]),
        "tags": " ".join(tags),
        "gt": rng.choice(_GENERIC_TAGS),
        "m": "@" + rng.choice(others),
        "o": rng.choice(voice.openers),
        "c": rng.choice(voice.closers),
        "d": str(rng.randint(1, 30)),
    }
    text = rng.choice(voice.templates)
    if "{tags}" not in text and rng.random() < 0.25:
        text += rng.choice((" {tags}", "\n{tags}"))
    for key in sorted(fields, key=len, reverse=True):  # "{e2}" before "{e}"
        text = text.replace("{" + key + "}", fields[key])
    if voice.lowercase:
        text = text.lower()
    # Tidy: empty openers leave a leading space; never trailing spaces on a line.
    text = "\n".join(line.strip() for line in text.split("\n")).strip()
    if scene_of(text) != scene:  # safety net: every caption must name its own scene
        text += " " + _TAGS[scene][0]
    return unicodedata.normalize("NFC", text)


def _short_caption(rng: random.Random, scene: str, voice: _Voice) -> str:
    noun = rng.choice(_NOUNS[scene])
    fields = {
        "n": noun,
        "N": noun[0].upper() + noun[1:],
        "e": rng.choice(_EMOJI[scene]),
        "e2": rng.choice(_EMOJI[scene]),
        "t": rng.choice(_TAGS[scene]),
    }
    text = rng.choice(_SHORT)
    for key in sorted(fields, key=len, reverse=True):  # "{e2}" before "{e}"
        text = text.replace("{" + key + "}", fields[key])
    return unicodedata.normalize("NFC", text.lower() if voice.lowercase else text)


# What gives each voice away (its openers, closers and template words), for `instacap eval`'s
# account accuracy: a caption written as an account carries its voice when one of these matches.
# The short captions (about half) carry none, so the real captions' own share is the ceiling.
_MARKERS: dict[str, str] = {
    "demo.wanderer": r"\bDay \d|Road trip notes:|Postcard from today:|Still thinking about this one:"
    r"|Next stop tomorrow\.|Would go back in a heartbeat\.|Pinch me\.|More soon\.",
    "demo_beans": r"slow morning,|\btoday:|quiet one:|little joys:|\bsee you\b|\bw/ |usual table",
    "demo.nightowl": r"…|3am thoughts:|Out past midnight:|Quiet hours\.|Worth the lost sleep\."
    r"|Time felt slow\.|Tiny and happy\.|Again soon\.|thanks @",
    "demo.greenthumb": r"Happy Monday!|Good morning!|Update:|So happy!|Love this!"
    r"|Can't stop smiling!|Yay!|\blook\b",
    "demo.metrokid": r"\blowkey\b|\bngl\b|\bpov:|\bhonestly\b|\bfr\b|10/10|again tmrw|(?<!#)\bvibes\b"
    r"|no filter|\bft @",
    "demo.saltyhair": r"🤙|Stoked|Dawn patrol\.|Best day ever:|Good vibes only\.|Same time tomorrow\?"
    r"|Yew!|with the crew",
}


def carries_voice(text: str, account: str) -> bool | None:
    """Whether a caption carries the markers of demo account `account` (None: not a demo voice)."""
    pattern = _MARKERS.get(account)
    return None if pattern is None else bool(re.search(pattern, text))
