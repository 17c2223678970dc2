"""The demo photos: each scene drawn procedurally (`draw`), with jittered colours, layout and sizes
and a little sensor noise, so that no two photos are the same.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

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
