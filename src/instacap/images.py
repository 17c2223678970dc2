"""Opening photos safely: every odd file either becomes an RGB image or a BadImage with a reason.

Handles EXIF rotation, CMYK/palette/alpha/16-bit modes, animated files (first frame) and refuses
decompression bombs; `reason` is a short tag so callers can count skips per reason.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import IO

from PIL import Image, ImageOps, UnidentifiedImageError

from instacap.errors import BadImage

# Largest photo accepted: 64 megapixels (Instagram serves at most 1440 px wide).
MAX_PIXELS = 64_000_000


def open_rgb(path: Path, draft: tuple[int, int] | None = None) -> Image.Image:
    """Decode `path` fully into an upright RGB image.

    `draft` lets JPEG decoding stop at a reduced scale (>= the given size), several times faster
    than a full decode when the image is going to be shrunk anyway.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise BadImage(f"The photo {path} does not exist; check the path.", "missing") from None
    except OSError as exc:
        raise BadImage(
            f"Cannot read {path} ({exc.strerror}); check its permissions.", "unreadable"
        ) from exc
    if size == 0:
        raise BadImage(
            f"{path} is an empty file, not a photo; copy or download the photo again.",
            "empty file",
        )
    return _decode(path, path, draft)


def _decode(source: Path | IO[bytes], path: Path, draft: tuple[int, int] | None) -> Image.Image:
    """Decode an image file (`source`: its path or its bytes; `path` names it in messages)."""
    try:
        with warnings.catch_warnings():
            # Pillow warns below its own bomb limit; we decide with MAX_PIXELS instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(source)
            if img.width * img.height > MAX_PIXELS:
                raise BadImage(
                    f"{path} is {img.width}x{img.height} pixels, too large to be a photo "
                    f"(limit {MAX_PIXELS // 1_000_000} megapixels); resize it first.",
                    "too large",
                )
            if draft is not None and img.format == "JPEG":
                img.draft("RGB", draft)
            img.seek(0)  # animated GIF/WebP/PNG: the first frame is the photo
            img.load()
            img = ImageOps.exif_transpose(img) or img
            return _to_rgb(img)
    except BadImage:
        raise
    except Image.DecompressionBombError as exc:
        raise BadImage(
            f"{path} is too large to decode safely; resize it first.", "too large"
        ) from exc
    except UnidentifiedImageError as exc:
        raise BadImage(
            f"{path} is not an image file Pillow can read; use a JPEG, PNG or WebP photo.",
            "not an image",
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImage(
            f"{path} is corrupt or truncated ({exc}); copy or download the photo again.",
            "corrupt",
        ) from exc


def check(path: Path, data: bytes | None = None) -> str | None:
    """Return None when `path` decodes as a photo, else the short reason it does not. With
    `data` (the file's bytes, already read) those are checked instead of reading the file."""
    try:
        if data is None:
            open_rgb(path, draft=(64, 64))
        elif not data:
            return "empty file"
        else:
            _decode(io.BytesIO(data), Path(path), (64, 64))
    except BadImage as exc:
        return exc.reason
    return None


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparent areas are composited on white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits instead of clipping everything to white.
        img = img.convert("I").point(lambda v: v / 256).convert("L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img.convert("RGBA"), mask=img.convert("RGBA").getchannel("A"))
        return background
    return img.convert("RGB")
