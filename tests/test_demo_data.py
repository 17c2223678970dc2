"""The synthetic demo data set: deterministic, scene-dependent photos and captions, kept apart."""

from __future__ import annotations

import itertools
import statistics

import numpy as np
import pytest
from PIL import Image

from instacap import demo
from instacap.posts import PostStore


@pytest.fixture(scope="module")
def demo_posts(tmp_path_factory):
    """100 demo posts (10 per scene), generated once for the module in a store of its own."""
    store = PostStore(tmp_path_factory.mktemp("demo-store"))
    assert demo.generate(store, n=100, seed=0) == 100
    posts = list(store.posts())
    store.close()
    return posts


def test_at_least_eight_scenes_with_disjoint_words():
    assert len(demo.SCENES) >= 8
    assert {
        "beach",
        "sunset",
        "mountain",
        "forest",
        "city_night",
        "coffee",
        "stars",
        "flowers",
    } <= set(demo.SCENES)
    assert set(demo.SCENE_WORDS) == set(demo.SCENES)
    for a, b in itertools.combinations(demo.SCENES, 2):
        assert not demo.SCENE_WORDS[a] & demo.SCENE_WORDS[b], (a, b)
    for words in demo.SCENE_WORDS.values():
        assert all(w == w.lower() for w in words)


def test_generation_is_deterministic_and_idempotent(tmp_path):
    a, b = PostStore(tmp_path / "a"), PostStore(tmp_path / "b")
    assert demo.generate(a, n=12, seed=3) == 12
    assert demo.generate(b, n=12, seed=3) == 12
    assert demo.generate(a, n=12, seed=3) == 0  # rerun adds nothing
    assert a.count() == 12
    pa, pb = list(a.posts()), list(b.posts())
    assert [(p.shortcode, p.account, p.caption, p.scene, p.taken_at) for p in pa] == [
        (p.shortcode, p.account, p.caption, p.scene, p.taken_at) for p in pb
    ]
    assert all(x.image.read_bytes() == y.image.read_bytes() for x, y in zip(pa, pb, strict=True))
    c = PostStore(tmp_path / "c")
    demo.generate(c, n=12, seed=4)
    assert {p.caption for p in c.posts()} != {p.caption for p in pa}


def test_interrupted_generation_resumes(tmp_path):
    store = PostStore(tmp_path / "s")
    demo.generate(store, n=5)
    assert demo.generate(store, n=15) == 10
    assert store.count() == 15


def test_every_caption_names_its_own_scene(demo_posts):
    assert {p.scene for p in demo_posts} == set(demo.SCENES)
    for post in demo_posts:
        assert post.source == "demo"
        assert demo.scene_of(post.caption) == post.scene, post.caption


@pytest.mark.parametrize(
    ("caption", "scene"),
    [
        ("BEACH day!!", "beach"),
        ("so good #beachlife", "beach"),
        ("#Beach", "beach"),
        ("Golden light over the skyline, #goldenhour #sunsetlovers", "sunset"),
        ("a sandwich and a nap", None),
        ("", None),
        ("hi @demo.forest_fan", None),  # mentions never decide a scene
        ("forest or beach?", None),  # a tie names no single scene
        ("Morning latte ☕\nthen the lake 🛶 #lakelife", "lake"),
        ("Café time", "coffee"),
    ],
)
def test_scene_of(caption, scene):
    assert demo.scene_of(caption) == scene


def test_captions_look_like_instagram(demo_posts):
    captions = [p.caption for p in demo_posts]
    # Short like real captions (median about 31 characters), with a long tail.
    assert 20 <= statistics.median(len(c) for c in captions) <= 45
    assert max(len(c) for c in captions) >= 80
    assert len({p.account for p in demo_posts}) >= 4
    assert any("\n" in c for c in captions)
    assert sum("#" in c for c in captions) > len(captions) / 3
    assert any("@demo" in c for c in captions)
    assert any("\u200d" in c for c in captions)  # ZWJ emoji sequences
    assert len(set(captions)) > 0.9 * len(captions)
    # Each account has its own voice: the lowercase accounts never capitalise.
    lower = [p.caption for p in demo_posts if p.account in ("demo_beans", "demo.metrokid")]
    assert lower and all(c == c.lower() for c in lower)


def _descriptor(path) -> np.ndarray:
    """A 4x4 colour layout: what a weight-free encoder would see."""
    return np.asarray(Image.open(path).convert("RGB").resize((4, 4)), np.float32).ravel() / 255


def test_scenes_are_visually_distinct_but_varied(demo_posts):
    by_scene: dict[str, list[np.ndarray]] = {}
    for post in demo_posts:
        by_scene.setdefault(post.scene, []).append(_descriptor(post.image))
    means = {s: np.mean(v, axis=0) for s, v in by_scene.items()}
    # Mean colours differ between every pair of scenes.
    for a, b in itertools.combinations(means, 2):
        assert np.abs(means[a] - means[b]).mean() > 0.03, (a, b)
    # Nearest centroid from half of each scene classifies the other half.
    cents = {s: np.mean(v[: len(v) // 2], axis=0) for s, v in by_scene.items()}
    right = total = 0
    for s, v in by_scene.items():
        for x in v[len(v) // 2 :]:
            guess = min(cents, key=lambda c: float(np.sum((cents[c] - x) ** 2)))
            right += guess == s
            total += 1
    assert right / total >= 0.9
    # ... but no two photos of a scene are the same picture.
    for v in by_scene.values():
        for x, y in itertools.combinations(v, 2):
            assert np.abs(x - y).mean() > 0.005


def test_demo_store_is_kept_apart_from_own_posts(instacap_home):
    store = demo.ensure(n=10)
    assert store.count() == 10
    assert store.root == instacap_home / "demo"
    with PostStore.open() as own:
        assert own.count() == 0
    assert demo.ensure(n=10).count() == 10


def test_captions_do_not_depend_on_the_process_hash_seed():
    """Same seed, same demo captions in every process (string hashing is randomised per process)."""
    import os
    import subprocess
    import sys

    code = (
        "import random; from instacap import demo;"
        "print([demo._caption(random.Random(i), s, demo.ACCOUNTS[i % len(demo.ACCOUNTS)])"
        " for i, s in enumerate(demo.SCENES * 3)])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in (1, 2, 3)
    }
    assert len(outputs) == 1
