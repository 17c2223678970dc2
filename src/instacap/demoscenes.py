"""The demo data's scenes and the words and hashtags that name each one: `scene_of` tells which
scene a caption names, so that evaluation can check a generated caption against its photo.
"""

from __future__ import annotations

import re
import unicodedata

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
