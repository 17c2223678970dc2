"""The built-in demo data set: synthetic photos and Instagram-style captions, fully offline.

Everything here is made up. Each post is one procedurally drawn photo of a scene (beach, sunset,
snowy peak, ...) and a caption written by one of a few fictional accounts, each with its own
voice, whose words, hashtags and emoji depend on the scene. The posts record their scene so that
evaluation can check whether a generated caption names what the photo shows (`scene_of`).

The data lives in its own posts store (`PostStore.open(demo=True)`), never among a user's posts,
and every post has `source="demo"`. Generation is deterministic for a seed and idempotent: a
post whose shortcode is stored already is skipped, so an interrupted run simply resumes.

The pieces live beside it: `demoscenes` (the scenes and their words), `demovoices` (the accounts
and their captions) and `demophotos` (the drawn photos); this module fills the store with them.
"""

from __future__ import annotations

import io
import random
from datetime import datetime, timedelta, timezone

from instacap.demophotos import draw as draw
from instacap.demoscenes import SCENE_WORDS as SCENE_WORDS
from instacap.demoscenes import SCENES as SCENES
from instacap.demoscenes import scene_of as scene_of
from instacap.demovoices import ACCOUNTS as ACCOUNTS
from instacap.demovoices import caption as _caption
from instacap.posts import NewPost, PostStore
from instacap.progress import SILENT, Reporter

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
