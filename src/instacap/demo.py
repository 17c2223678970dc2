"""The built-in demo data set: synthetic photos and Instagram-style captions, fully offline.

Everything here is made up. Each post is one procedurally drawn photo of a scene (beach, sunset,
snowy peak, ...) and a caption written by one of a few fictional accounts, each with its own
voice, whose words, hashtags and emoji depend on the scene. The posts record their scene so that
evaluation can check whether a generated caption names what the photo shows (`scene_of`).

The data lives in its own posts store (`PostStore.open(demo=True)`), never among a user's posts,
and every post has `source="demo"`. Generation is deterministic for a seed and idempotent: a
post whose shortcode is stored already is skipped, so an interrupted run simply resumes.
"""

from __future__ import annotations

import io
import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from PIL import Image, ImageDraw

from instacap.posts import NewPost, PostStore
from instacap.progress import SILENT, Reporter

SCENES: tuple[str, ...] = (
    "beach",
    "sunset",
    "mountain",
    "forest",
    "city_night",
    "coffee",
    "stars",
    "flowers",
    "desert",
    "lake",
)

# Words (lowercase) and hashtags that name each scene. The sets are disjoint, and no caption
# uses a word of another scene, so `scene_of` is unambiguous on the demo captions.
_WORDS: dict[str, str] = {
    "beach": (
        "beach beaches shore seaside waves wave surf surfing ocean seashells "
        "#beachlife #beachday #beachvibes #oceanview #saltlife"
    ),
    "sunset": (
        "sunset sunsets dusk afterglow twilight sundown "
        "#goldenhour #sunsetlovers #sunset_pics #skyonfire #sunsetchaser"
    ),
    "mountain": (
        "mountain mountains peak peaks summit alpine snowcapped snowy alps "
        "#mountainlife #summitviews #mountainview #peakbagging #alpineviews"
    ),
    "forest": (
        "forest forests woods woodland pines trees moss ferns "
        "#forestbathing #intothewoods #forestlife #treehugger #woodlandwalk"
    ),
    "city_night": (
        "city skyline neon downtown streetlights rooftop rooftops "
        "#citylights #nightcity #citynights #urbanexplorer #neonlights"
    ),
    "coffee": (
        "coffee latte espresso cappuccino flatwhite cafe café barista mug brew "
        "#coffeetime #latteart #butfirstcoffee #coffeelover #coffeeaddict"
    ),
    "stars": (
        "stars starry milky milkyway galaxy constellations cosmos stargazing astrophotography "
        "#milkyway #stargazing #starrynight #astrophotography #nightsky"
    ),
    "flowers": (
        "flowers flower blooms blooming petals blossom blossoms tulips roses daisies bouquet "
        "#flowerpower #flowerstagram #inbloom #petals #gardenlife"
    ),
    "desert": (
        "desert deserts dunes dune cactus cacti sahara "
        "#desertlife #desertvibes #dunes #cactuslove #desertroad"
    ),
    "lake": (
        "lake lakes lakeside canoe kayak dock lakeshore "
        "#lakelife #lakeview #lakeday #calmwaters #lakehouse"
    ),
}
SCENE_WORDS: dict[str, frozenset[str]] = {s: frozenset(w.split()) for s, w in _WORDS.items()}

_WORD_TO_SCENE = {w: s for s, words in SCENE_WORDS.items() for w in words}
_MENTION = re.compile(r"@[\w.]+")
_TOKEN = re.compile(r"#?\w+")


def scene_of(caption: str) -> str | None:
    """The scene whose words the caption names most often; None when it names none, or a tie.

    Case-insensitive, whole words only ("seaside" counts, "sandwich" does not), hashtags count both
    as the tag ("#beachlife") and as the bare word ("#beach" names the beach), and @mentions are
    ignored so that account names never decide a scene.
    """
    text = _MENTION.sub(" ", unicodedata.normalize("NFC", caption).casefold())
    hits: dict[str, int] = {}
    for token in _TOKEN.findall(text):
        scene = _WORD_TO_SCENE.get(token)
        if scene is None and token.startswith("#"):
            scene = _WORD_TO_SCENE.get(token[1:])
        if scene is not None:
            hits[scene] = hits.get(scene, 0) + 1
    if not hits:
        return None
    best = max(hits.values())
    winners = [s for s, n in hits.items() if n == best]
    return winners[0] if len(winners) == 1 else None


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


def _caption(rng: random.Random, scene: str, voice: _Voice) -> str:
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


# -- photos ----------------------------------------------------------------------------------

Color = tuple[int, int, int]


def _jit(rng: random.Random, rgb: Color, d: int = 18) -> Color:
    r, g, b = (min(255, max(0, c + rng.randint(-d, d))) for c in rgb)
    return (r, g, b)


def _vgrad(img: Image.Image, top: Color, bottom: Color, y0: int = 0, y1: int | None = None) -> None:
    """Paint a vertical gradient from `top` to `bottom` over rows y0..y1."""
    w, h = img.size
    y1 = h if y1 is None else y1
    if y1 <= y0:
        return
    t = np.linspace(0.0, 1.0, y1 - y0, dtype=np.float32)[:, None]  # [rows, 1]
    rows = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t  # [rows, 3]
    band = np.repeat(rows[:, None, :], w, axis=1).astype(np.uint8)  # [rows, w, 3]
    img.paste(Image.fromarray(band, "RGB"), (0, y0))


def _circle(d: ImageDraw.ImageDraw, x: float, y: float, r: float, fill: Color) -> None:
    d.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def _beach(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    hor = int(s * rng.uniform(0.3, 0.48))
    shore = int(hor + s * rng.uniform(0.15, 0.28))
    _vgrad(img, _jit(rng, (90, 160, 230)), _jit(rng, (190, 225, 245)), 0, hor)
    _vgrad(img, _jit(rng, (20, 100, 170)), _jit(rng, (50, 175, 195)), hor, shore)
    _vgrad(img, _jit(rng, (235, 215, 165)), _jit(rng, (215, 190, 140)), shore, s)
    foam = [(x, shore + 4 * np.sin(x / s * 12 + rng.random() * 6)) for x in range(0, s + 8, 8)]
    d.line(foam, fill=(245, 250, 250), width=max(2, s // 60))
    _circle(d, rng.uniform(0.1, 0.9) * s, rng.uniform(0.08, 0.2) * s, s * 0.06, (255, 240, 170))
    if rng.random() < 0.6:  # a parasol
        x, y, r = rng.uniform(0.2, 0.8) * s, shore + s * 0.12, s * rng.uniform(0.08, 0.13)
        d.line((x, y - r * 0.2, x, y + r * 1.3), fill=(90, 70, 50), width=2)
        d.pieslice((x - r, y - r, x + r, y + r), 180, 360, fill=_jit(rng, (230, 60, 70), 40))


def _sunset(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    hor = int(s * rng.uniform(0.55, 0.72))
    _vgrad(img, _jit(rng, (80, 45, 120), 25), _jit(rng, (250, 140, 60), 20), 0, hor)
    sx, r = rng.uniform(0.25, 0.75) * s, s * rng.uniform(0.09, 0.16)
    _circle(d, sx, hor - r * rng.uniform(0.1, 0.7), r, _jit(rng, (255, 200, 90), 15))
    _vgrad(img, _jit(rng, (70, 35, 60), 15), _jit(rng, (25, 15, 35), 10), hor, s)
    for i in range(6):  # the sun's path on the water
        y = hor + 4 + i * (s - hor) / 7
        half = r * (1.0 - i * 0.12)
        d.line((sx - half, y, sx + half, y), fill=(250, 150, 70), width=2)
    if rng.random() < 0.5:  # a dark headland
        pts = [(0, hor), (0, hor - s * rng.uniform(0.05, 0.15)), (s * rng.uniform(0.2, 0.4), hor)]
        d.polygon(pts, fill=(30, 15, 30))


def _mountain(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    _vgrad(img, _jit(rng, (60, 120, 205)), _jit(rng, (175, 210, 240)))
    base = int(s * rng.uniform(0.7, 0.85))
    for _ in range(rng.randint(1, 3)):
        px, top, half = (
            rng.uniform(0.15, 0.85) * s,
            rng.uniform(0.12, 0.4) * s,
            rng.uniform(0.3, 0.5) * s,
        )
        rock = _jit(rng, (105, 105, 125), 20)
        d.polygon([(px - half, base), (px, top), (px + half, base)], fill=rock)
        cap = rng.uniform(0.25, 0.4)  # share of the height under snow
        cy = top + (base - top) * cap
        cw = half * cap
        d.polygon([(px - cw, cy), (px, top), (px + cw, cy)], fill=(245, 248, 252))
    _vgrad(img, _jit(rng, (230, 236, 245), 10), _jit(rng, (200, 210, 225), 10), base, s)


def _forest(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    _vgrad(img, _jit(rng, (170, 200, 170)), _jit(rng, (120, 160, 110)))
    ground = int(s * rng.uniform(0.78, 0.9))
    for _ in range(rng.randint(10, 18)):
        x, h = rng.uniform(-0.05, 1.05) * s, rng.uniform(0.35, 0.8) * s
        w = h * rng.uniform(0.22, 0.35)
        base = ground + rng.uniform(-0.05, 0.05) * s
        d.rectangle((x - w * 0.08, base - h * 0.2, x + w * 0.08, base), fill=(80, 55, 35))
        d.polygon(
            [(x - w, base - h * 0.15), (x, base - h), (x + w, base - h * 0.15)],
            fill=_jit(rng, (30, 85, 45), 15),
        )
    _vgrad(img, _jit(rng, (70, 95, 45)), _jit(rng, (45, 65, 30)), ground, s)


def _city_night(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    _vgrad(img, _jit(rng, (10, 10, 35), 8), _jit(rng, (45, 30, 85), 15))
    x = -rng.uniform(0, 0.05) * s
    while x < s:
        w, h = rng.uniform(0.08, 0.18) * s, rng.uniform(0.25, 0.8) * s
        top = s - h
        d.rectangle((x, top, x + w, s), fill=_jit(rng, (22, 22, 34), 8))
        lit = rng.uniform(0.2, 0.6)
        for wy in np.arange(top + 4, s - 4, s / 28):
            for wx in np.arange(x + 3, x + w - 3, s / 40):
                if rng.random() < lit:
                    d.rectangle((wx, wy, wx + 2, wy + 3), fill=_jit(rng, (250, 215, 120), 20))
        x += w + rng.uniform(0, 0.02) * s
    for _ in range(rng.randint(1, 2)):  # neon signs
        nx, ny = rng.uniform(0.1, 0.8) * s, rng.uniform(0.5, 0.9) * s
        neon = rng.choice([(255, 60, 180), (60, 230, 255), (180, 80, 255)])
        d.rectangle((nx, ny, nx + s * 0.12, ny + s * 0.03), outline=neon, width=2)


def _coffee(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    wood = _jit(rng, (125, 82, 50), 20)
    _vgrad(img, wood, _jit(rng, wood, 10))
    for _ in range(10):  # wood grain
        y = rng.uniform(0, s)
        d.line((0, y, s, y + rng.uniform(-8, 8)), fill=_jit(rng, (95, 60, 35), 10), width=1)
    cx, cy, r = (
        rng.uniform(0.35, 0.65) * s,
        rng.uniform(0.35, 0.65) * s,
        rng.uniform(0.28, 0.36) * s,
    )
    _circle(d, cx, cy, r, _jit(rng, (240, 238, 232), 8))  # saucer
    _circle(d, cx, cy, r * 0.68, _jit(rng, (250, 250, 248), 4))  # cup rim
    _circle(d, cx, cy, r * 0.56, _jit(rng, (110, 62, 32), 12))  # coffee
    art = _jit(rng, (215, 175, 130), 15)
    _circle(d, cx, cy + r * 0.08, r * rng.uniform(0.18, 0.3), art)  # latte art
    _circle(d, cx - r * 0.12, cy - r * 0.12, r * 0.14, art)
    _circle(d, cx + r * 0.12, cy - r * 0.12, r * 0.14, art)
    if rng.random() < 0.5:  # a croissant in the corner
        ox, oy = rng.choice([(0.12, 0.15), (0.85, 0.85), (0.15, 0.85)])
        d.ellipse((ox * s - 22, oy * s - 12, ox * s + 22, oy * s + 12), fill=(215, 150, 70))


def _stars(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    _vgrad(img, _jit(rng, (4, 5, 18), 4), _jit(rng, (20, 28, 62), 10))
    # The milky way: a faint diagonal band of small dots.
    a, b = rng.uniform(0.0, 0.4) * s, rng.uniform(-0.8, 0.8)
    for _ in range(250):
        x = rng.uniform(0, s)
        y = a + b * x + rng.gauss(0, s * 0.06)
        c = rng.randint(70, 130)
        d.point((x, y), fill=(c, c, c + 20))
    for _ in range(rng.randint(120, 220)):
        x, y, r = rng.uniform(0, s), rng.uniform(0, s * 0.85), rng.choice((0.6, 0.6, 1.0, 1.5))
        c = rng.randint(180, 255)
        _circle(d, x, y, r, (c, c, min(255, c + 10)))
    ground = s * rng.uniform(0.82, 0.92)
    hills = [(x, ground - np.sin(x / s * 5 + rng.random()) * s * 0.04) for x in range(0, s + 8, 8)]
    d.polygon([(0, s), *hills, (s, s)], fill=(5, 5, 8))


def _flowers(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    _vgrad(img, _jit(rng, (70, 140, 60)), _jit(rng, (35, 90, 35)))
    for _ in range(25):  # leaves
        x, y = rng.uniform(0, s), rng.uniform(0, s)
        d.ellipse((x, y, x + s * 0.12, y + s * 0.05), fill=_jit(rng, (40, 110, 40), 15))
    palette = [(240, 90, 150), (230, 40, 60), (250, 210, 50), (160, 80, 200), (250, 245, 250)]
    main = rng.sample(palette, k=2)
    for _ in range(rng.randint(8, 18)):
        x, y, r = (
            rng.uniform(0.05, 0.95) * s,
            rng.uniform(0.05, 0.95) * s,
            rng.uniform(0.04, 0.09) * s,
        )
        petal = _jit(rng, rng.choice(main), 20)
        for k in range(6):
            ang = k * np.pi / 3 + rng.random() * 0.3
            _circle(d, x + np.cos(ang) * r, y + np.sin(ang) * r, r * 0.7, petal)
        _circle(d, x, y, r * 0.5, _jit(rng, (240, 190, 40), 20))


def _desert(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    hor = int(s * rng.uniform(0.35, 0.5))
    _vgrad(img, _jit(rng, (150, 195, 235)), _jit(rng, (240, 225, 200)), 0, hor)
    _vgrad(img, _jit(rng, (225, 165, 95)), _jit(rng, (200, 130, 70)), hor, s)
    for k in range(rng.randint(2, 4)):  # dunes, nearer ones lower and darker
        y0 = hor + k * s * rng.uniform(0.08, 0.15)
        ph, amp = rng.random() * 6, s * rng.uniform(0.03, 0.08)
        crest = [(x, y0 - amp * np.sin(x / s * rng.uniform(3, 6) + ph)) for x in range(0, s + 8, 8)]
        d.polygon(
            [(0, s), *crest, (s, s)], fill=_jit(rng, (215 - 15 * k, 150 - 12 * k, 80 - 8 * k), 12)
        )
    if rng.random() < 0.6:  # a saguaro
        x, y, h = (
            rng.uniform(0.15, 0.85) * s,
            s * rng.uniform(0.8, 0.95),
            s * rng.uniform(0.2, 0.35),
        )
        green = _jit(rng, (60, 120, 60), 15)
        d.rectangle((x - 4, y - h, x + 4, y), fill=green)
        d.rectangle((x - 14, y - h * 0.6, x - 8, y - h * 0.3), fill=green)
        d.rectangle((x - 14, y - h * 0.35, x, y - h * 0.3), fill=green)
    _circle(d, rng.uniform(0.1, 0.9) * s, rng.uniform(0.08, 0.2) * s, s * 0.05, (255, 250, 220))


def _lake(img: Image.Image, d: ImageDraw.ImageDraw, rng: random.Random, s: int) -> None:
    hor = int(s * rng.uniform(0.42, 0.55))
    sky_top, sky_low = _jit(rng, (120, 170, 225)), _jit(rng, (200, 220, 235))
    _vgrad(img, sky_top, sky_low, 0, hor)
    hill = _jit(rng, (45, 90, 70), 15)
    ph, amp = rng.random() * 6, s * rng.uniform(0.08, 0.16)
    ridge = [(x, hor - amp * (0.6 + 0.4 * np.sin(x / s * 4 + ph))) for x in range(0, s + 8, 8)]
    d.polygon([(0, hor), *ridge, (s, hor)], fill=hill)
    # The water mirrors the sky and the hills, a little darker.
    top = np.asarray(img.crop((0, 0, s, hor)), np.float32)[::-1] * 0.75  # [hor, s, 3]
    water = np.zeros((s - hor, s, 3), np.float32)
    n = min(len(top), s - hor)
    water[:n] = top[:n]
    water[n:] = top[-1]
    img.paste(Image.fromarray(water.astype(np.uint8), "RGB"), (0, hor))
    for _ in range(12):  # ripples
        y, x = rng.uniform(hor + 3, s), rng.uniform(0, s)
        d.line((x, y, x + rng.uniform(10, 40), y), fill=(220, 230, 240), width=1)
    if rng.random() < 0.6:  # a canoe
        x, y = rng.uniform(0.2, 0.7) * s, rng.uniform(hor + 0.15 * s, 0.9 * s)
        d.chord((x, y - 8, x + s * 0.25, y + 8), 0, 180, fill=_jit(rng, (200, 60, 40), 25))


_PAINTERS: dict[str, Callable[[Image.Image, ImageDraw.ImageDraw, random.Random, int], None]] = {
    "beach": _beach,
    "sunset": _sunset,
    "mountain": _mountain,
    "forest": _forest,
    "city_night": _city_night,
    "coffee": _coffee,
    "stars": _stars,
    "flowers": _flowers,
    "desert": _desert,
    "lake": _lake,
}


def draw(scene: str, rng: random.Random, size: int = 224) -> Image.Image:
    """A new synthetic photo of `scene`: jittered colours, layout and sizes, a little sensor noise."""
    img = Image.new("RGB", (size, size))
    _PAINTERS[scene](img, ImageDraw.Draw(img), rng, size)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    noise = (
        np.random.default_rng(rng.getrandbits(32)).standard_normal((size, size, 3), np.float32) * 5
    )
    arr = np.clip(np.asarray(img, np.float32) + noise * rng.uniform(0.5, 1.5), 0, 255)
    return Image.fromarray(arr.astype(np.uint8), "RGB")


# -- the data set ----------------------------------------------------------------------------

_EPOCH = datetime(2023, 1, 1, 9, 0, tzinfo=timezone.utc)


def _shortcode(i: int, seed: int) -> str:
    # `generate` looks posts up by this id before drawing them, so both must agree on it.
    return f"demo{seed}x{i:05d}"


def _post(i: int, seed: int, size: int) -> tuple[NewPost, bytes]:
    """Post number `i` of the data set for `seed`: the same inputs always give the same post."""
    rng = random.Random(seed * 1_000_003 + i)
    scene = SCENES[i % len(SCENES)]  # balanced: every scene equally often
    k = SCENES.index(scene)
    voice = rng.choices(ACCOUNTS, weights=[a.weights[k] for a in ACCOUNTS])[0]
    caption = _caption(rng, scene, voice)
    buf = io.BytesIO()
    draw(scene, rng, size).save(buf, "JPEG", quality=85)
    post = NewPost(
        shortcode=_shortcode(i, seed),
        account=voice.name,
        taken_at=_EPOCH + timedelta(hours=13 * i + rng.randint(0, 12)),
        caption=caption,
        source="demo",
        image_ext=".jpg",
        likes=rng.randint(5, 900),
        scene=scene,
    )
    return post, buf.getvalue()


def generate(
    store: PostStore, n: int = 640, seed: int = 0, size: int = 224, reporter: Reporter = SILENT
) -> int:
    """Write `n` synthetic posts into `store`; returns how many were new (0 when all are stored)."""
    done = store.shortcodes()
    reporter.start("demo data", total=n)
    added = 0
    for i in range(n):
        if _shortcode(i, seed) not in done:
            post, data = _post(i, seed, size)
            added += store.add(post, data)
        reporter.advance("demo data")
    return added


def fill_if_empty(n: int = 640, reporter: Reporter = SILENT) -> None:
    """Generate the demo posts when the demo store holds none (`instacap prep --demo` on a fresh
    cache); a store the demo already filled, with any number of posts, is used as it is."""
    with PostStore.open(demo=True) as store:
        if store.count() == 0:
            generate(store, n=n, reporter=reporter)


def ensure(n: int = 640, seed: int = 0, reporter: Reporter = SILENT) -> PostStore:
    """The demo posts store, generated first if it holds fewer than `n` posts."""
    store = PostStore.open(demo=True)
    if store.count() < n:
        generate(store, n=n, seed=seed, reporter=reporter)
    return store
