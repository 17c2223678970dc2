"""Image encoders: a photo in, a fixed-size feature vector out.

Every encoder is described once in `REGISTRY` (name, output size, input size, how to build it);
adding one is a `Spec(...)` line. Three kinds exist:

- torchvision CNNs (`vgg16`, `resnet50`, `efficientnet_b0`, `mobilenet_v3`): pretrained ImageNet
  weights through torchvision's weights API, classification head removed;
- `thumbnail`: a weight-free colour/layout/texture descriptor computed from the pixels (offline);
- `none`: no image at all (the text-only baseline), 0 features.

Preprocessing is split in two so that prep can run the first half in DataLoader workers:
`prepare(image) -> uint8 [S, S, 3]` (resize + centre crop, per image) and
`forward(batch [B, S, S, 3] uint8) -> float32 [B, dim]` (the network, per batch).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np
from PIL import Image, ImageOps

from instacap import images, paths
from instacap.errors import InputError, WeightsUnavailable
from instacap.files import sha256_of, write_atomic
from instacap.progress import SILENT, Reporter

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# bfloat16 is used only when its features stay this close (cosine) to float32 ones.
MIN_BF16_COSINE = 0.999


@dataclass(frozen=True)
class Spec:
    """Everything instacap needs to know about one encoder."""

    name: str
    dim: int  # length of the feature vector
    size: int  # side of the square input, in pixels (0: reads no image)
    about: str  # one line for --help and the docs
    kind: str = "torchvision"  # torchvision | thumbnail | none
    builder: str = ""  # torchvision.models function name
    weights: str = ""  # torchvision weights enum entry, e.g. "VGG16_Weights.IMAGENET1K_V1"
    # Removes the classification head in place; the model then outputs [B, dim].
    behead: Callable[[Any], None] | None = field(default=None, repr=False)


def _set(attr: str, value: Callable[[Any], Any]) -> Callable[[Any], None]:
    def behead(model: Any) -> None:
        setattr(model, attr, value(model))

    return behead


def _identity(_: Any) -> Any:
    from torch import nn

    return nn.Identity()


REGISTRY: dict[str, Spec] = {}


def register(spec: Spec) -> Spec:
    REGISTRY[spec.name] = spec
    return spec


register(
    Spec(
        "vgg16",
        4096,
        224,
        "VGG-16 fc7 (the original project's features); 528 MB of weights, slowest",
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
        "ResNet-50 pooled features; 98 MB of weights, ~3x faster than vgg16",
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
        "EfficientNet-B0 pooled features; 21 MB of weights, fast, ImageNet top-1 77.7%",
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
        "MobileNet-V3-Large pooled features; 22 MB of weights, the fastest CNN here",
        builder="mobilenet_v3_large",
        weights="MobileNet_V3_Large_Weights.IMAGENET1K_V2",
        behead=_set("classifier", _identity),
    )
)
THUMB_SIZE = 64
register(
    Spec(
        "thumbnail",
        142,
        THUMB_SIZE,
        "colour layout, colour histogram, brightness and edges of a 64 px thumbnail; no weights, offline",
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


# -- encoders ------------------------------------------------------------------------------------


class Encoder:
    """A ready-to-run encoder. `key` names its features in the cache (weights included)."""

    def __init__(self, spec: Spec, key: str | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.dim = spec.dim
        self.size = spec.size
        self.key = key or spec.name
        self.precision = "fp32"
        self.cosine: float | None = None  # bf16-vs-fp32 agreement, when it was measured

    def prepare(self, img: Image.Image) -> np.ndarray:
        """Upright RGB image -> uint8 [size, size, 3]: shorter side resized, centre cropped."""
        return fit(img, self.size)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """uint8 [B, size, size, 3] -> float32 [B, dim]."""
        raise NotImplementedError

    def decode_workers(self) -> int:
        """Decoding processes worth running beside this encoder (`prep --workers` default).

        A light encoder waits on JPEG decoding, so two processes decode in parallel (thumbnail on
        1080 px photos, 2 cores: 200 images/s vs 135 inline).
        """
        return 2

    def encode_images(self, imgs: list[Image.Image]) -> np.ndarray:
        """Features of decoded RGB images: float32 [n, dim]."""
        if self.dim == 0 or not imgs:
            return np.zeros((len(imgs), self.dim), np.float32)
        return self.forward(np.stack([self.prepare(im.convert("RGB")) for im in imgs]))

    def info(self) -> dict[str, Any]:
        return {
            "encoder": self.name,
            "key": self.key,
            "dim": self.dim,
            "precision": self.precision,
            "bf16_cosine": self.cosine,
        }


class NoImage(Encoder):
    def forward(self, batch: np.ndarray) -> np.ndarray:
        return np.zeros((len(batch), 0), np.float32)


class Thumbnail(Encoder):
    def forward(self, batch: np.ndarray) -> np.ndarray:
        return thumbnail_features(batch)


def fit(img: Image.Image, size: int) -> np.ndarray:
    """Upright RGB image -> uint8 [size, size, 3]: shorter side resized, centre cropped."""
    return np.asarray(ImageOps.fit(img, (size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def encode_files(encoder: Encoder, files: list[Path]) -> np.ndarray:
    """Features of image files: float32 [n, dim]. Raises BadImage for a file that cannot be read."""
    if encoder.dim == 0:
        return np.zeros((len(files), 0), np.float32)
    draft = (encoder.size, encoder.size)
    return encoder.forward(np.stack([encoder.prepare(images.open_rgb(f, draft)) for f in files]))


def key_for(name: str, weights: Path | None = None, pretrained: bool = True) -> str:
    """The feature-store key of an encoder: its name, plus the weights file's hash when custom."""
    s = spec(name)
    if s.kind != "torchvision":
        return s.name
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise InputError(f"The weights file {path} does not exist; check the path.")
        return f"{s.name}-{sha256_of(path)[:8]}"
    return s.name if pretrained else f"{s.name}-random"


def get(
    name: str,
    weights: Path | None = None,
    device: str = "cpu",
    pretrained: bool = True,
    reporter: Reporter = SILENT,
) -> Encoder:
    """The encoder `name`, weights loaded (`weights` = a state_dict file instead of the download).

    `pretrained=False` builds the network with random weights (benchmarks only).
    """
    s = spec(name)
    if s.kind == "none":
        return NoImage(s)
    if s.kind == "thumbnail":
        return Thumbnail(s)
    return TorchEncoder(s, weights=weights, device=device, pretrained=pretrained, reporter=reporter)


# -- thumbnail descriptor --------------------------------------------------------------------------


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1], [..., 3] -> CIELAB (D65), [..., 3] with L in [0, 100]."""
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]],
        np.float32,
    )
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883], np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    lab = np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1
    )
    return lab.astype(np.float32)


_A_EDGES = np.array([-20.0, 0.0, 20.0], np.float32)
_L_EDGES = np.array([25.0, 50.0, 75.0], np.float32)


def thumbnail_features(batch: np.ndarray) -> np.ndarray:
    """uint8 [B, 64, 64, 3] -> float32 [B, 142], each part scaled to roughly [-1, 1].

    48 mean Lab colours of a 4x4 grid (layout: sky above sand, dark below bright) + 16 grid
    brightness spreads (texture: foliage vs sky) + 64 Lab histogram bins (sqrt of shares) +
    4 edge strengths per quadrant + 2 edge orientations + 4 brightness statistics +
    2 colourfulness figures + 2 dark/bright shares.
    """
    b = batch.shape[0]
    lab = _lab(batch.astype(np.float32) / 255.0)  # [B, 64, 64, 3]
    L = lab[..., 0]
    cells = lab.reshape(b, 4, 16, 4, 16, 3)
    grid_mean = cells.mean((2, 4)) / np.array([100.0, 100.0, 100.0], np.float32)  # [B, 4, 4, 3]
    grid_std = cells[..., 0].std((2, 4)) / 50.0  # [B, 4, 4]

    li = np.digitize(L, _L_EDGES)
    ai = np.digitize(lab[..., 1], _A_EDGES)
    bi = np.digitize(lab[..., 2], _A_EDGES)
    bins = (li * 16 + ai * 4 + bi).reshape(b, -1)  # [B, 4096] in 0..63
    hist = np.stack([np.bincount(row, minlength=64) for row in bins]).astype(np.float32)
    hist = np.sqrt(hist / bins.shape[1])  # Hellinger: rare colours still count

    gy = np.abs(np.diff(L, axis=1))[:, :, :-1] / 25.0  # [B, 63, 63]
    gx = np.abs(np.diff(L, axis=2))[:, :-1, :] / 25.0
    mag = gx + gy
    quads = mag[:, :62, :62].reshape(b, 2, 31, 2, 31).mean((2, 4)).reshape(b, 4)
    orient = np.stack([gx.mean((1, 2)), gy.mean((1, 2))], -1)

    lf = L.reshape(b, -1) / 100.0
    bright = np.stack(
        [lf.mean(1), lf.std(1) * 2, np.percentile(lf, 10, axis=1), np.percentile(lf, 90, axis=1)],
        -1,
    )
    chroma = np.hypot(lab[..., 1], lab[..., 2]).reshape(b, -1) / 50.0
    colour = np.stack([chroma.mean(1), chroma.std(1)], -1)
    extremes = np.stack([(lf < 0.15).mean(1), (lf > 0.85).mean(1)], -1)

    out = np.concatenate(
        [
            grid_mean.reshape(b, -1),
            grid_std.reshape(b, -1),
            hist,
            quads,
            orient,
            bright,
            colour,
            extremes,
        ],
        axis=1,
    )
    return out.astype(np.float32)


# -- torchvision encoders --------------------------------------------------------------------------


class TorchEncoder(Encoder):
    """A torchvision CNN without its head, run in inference mode, channels-last."""

    def __init__(
        self,
        spec: Spec,
        weights: Path | None,
        device: str,
        pretrained: bool,
        reporter: Reporter,
    ) -> None:
        import torch
        import torchvision.models as tvm

        # Tiny activations (random or badly scaled weights) as denormals slow a CPU ~100x.
        torch.set_flush_denormal(True)
        model = getattr(tvm, spec.builder)(weights=None)  # random init; real weights below
        key = key_for(spec.name, weights, pretrained)
        if weights is not None:
            state = _load_file(Path(weights).expanduser(), spec)
        elif pretrained:
            state = _pretrained_state(spec, reporter)
        else:
            state = None
        if state is not None:
            _check_shapes(model, state, spec, weights)
            model.load_state_dict(state)
        assert spec.behead is not None
        spec.behead(model)
        super().__init__(spec, key)
        self.device = torch.device(device)
        model = _fuse_batchnorm(model.eval())
        self.model = model.to(self.device).to(memory_format=torch.channels_last)
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1) * 255
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1) * 255
        self._mean, self._std = mean, std
        self._calibrated = False

    def decode_workers(self) -> int:
        # A CNN on the CPU already uses every core; decoding inline costs it ~2% (reduced-size
        # JPEG decoding), while decoding processes steal cores from its threads, which then wait
        # for each other (vgg16, 2 cores: 4.1 images/s inline, 3.3 with 1 or 2 workers). A GPU
        # leaves the CPU free to decode ahead.
        return 2 if self.device.type == "cuda" else 0

    def _bf16_possible(self) -> bool:
        import torch

        if self.device.type == "cuda":
            return bool(torch.cuda.is_bf16_supported())
        # Without native bf16 (AVX-512-BF16/AMX) the CPU emulates it: slower than float32.
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())

    def _run(self, batch: np.ndarray, bf16: bool) -> np.ndarray:
        import torch

        x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float()  # [B, 3, S, S]
        x = ((x - self._mean) / self._std).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast(self.device.type, torch.bfloat16, enabled=bf16):
            y = self.model(x)  # [B, dim]
        return y.float().cpu().numpy()

    def calibrate(self, batch: np.ndarray) -> None:
        """Use bfloat16 only if it is native here and agrees with float32 on these photos."""
        self._calibrated = True
        if not self._bf16_possible():
            return
        sample = batch[:4]
        ref, fast = self._run(sample, False), self._run(sample, True)
        self.cosine = float(min(_cosine(ref, fast)))
        if self.cosine >= MIN_BF16_COSINE:
            self.precision = "bf16"

    def forward(self, batch: np.ndarray) -> np.ndarray:
        if not self._calibrated:
            self.calibrate(batch)
        return self._run(batch, self.precision == "bf16")


def _fuse_batchnorm(model: nn.Module) -> nn.Module:
    """Fold each eval-mode BatchNorm into the convolution before it (same outputs, one pass
    less over every activation: ~10-30% faster on CPU for ResNet/EfficientNet/MobileNet)."""
    import torch

    if not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()):
        return model
    try:
        from torch.fx.experimental.optimization import fuse

        return fuse(model)
    except Exception:  # a model torch.fx cannot trace: run it unfused
        return model


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return num / np.maximum(den, np.finfo(np.float32).tiny)


# -- weights ---------------------------------------------------------------------------------------


def weights_location(s: Spec) -> tuple[str, Path]:
    """(download URL, cached file) of the pretrained weights of `s`, torch hub's usual place."""
    import torch
    import torchvision.models as tvm

    enum_name, member = s.weights.split(".")
    url = getattr(tvm, enum_name)[member].url
    return url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def _pretrained_state(s: Spec, reporter: Reporter) -> dict[str, Any]:
    import torch
    import torchvision.models as tvm
    from torch.hub import HASH_REGEX

    enum_name, member = s.weights.split(".")
    weights = getattr(tvm, enum_name)[member]
    url, cached = weights_location(s)
    match = HASH_REGEX.search(cached.name)
    prefix = match.group(1) if match else None
    if not cached.exists():
        reporter.note(f"Downloading the {s.name} weights to {cached} ...")
        try:
            paths.ensure_dir(cached.parent)
            # What torchvision's get_state_dict does, minus its print to stdout.
            torch.hub.download_url_to_file(url, str(cached), prefix, progress=False)
        except (OSError, RuntimeError) as exc:
            cached.unlink(missing_ok=True)
            raise WeightsUnavailable(
                f"The {s.name} weights are not cached and cannot be downloaded ({_short(exc)}): "
                f"download {url} and place it in {cached.parent} as {cached.name}, "
                f"or pass --weights FILE, or use --encoder thumbnail to work offline."
            ) from exc
    elif prefix:
        _verify_hash(cached, prefix, url)
    try:
        return weights.get_state_dict(
            progress=False, check_hash=True, weights_only=True, map_location="cpu"
        )
    except Exception as exc:  # torch.load: truncated zip, pickle with code, ...
        raise WeightsUnavailable(
            f"The cached weights file {cached} cannot be loaded ({_short(exc)}); "
            f"delete it and rerun to download it again, or place a fresh copy of {url} there."
        ) from exc


def _verify_hash(cached: Path, prefix: str, url: str) -> None:
    """Check a cached file against the SHA-256 prefix torchvision puts in its name (once per file)."""
    st = cached.stat()
    stamp = [st.st_size, st.st_mtime_ns]
    seen_file = paths.features_dir() / "verified-weights.json"
    try:
        seen = json.loads(seen_file.read_text())
    except (OSError, ValueError):
        seen = {}
    if seen.get(str(cached)) == stamp:
        return
    if not sha256_of(cached).startswith(prefix):
        raise WeightsUnavailable(
            f"The cached weights file {cached} is damaged or was changed (its SHA-256 does not start "
            f"with {prefix}, as torchvision publishes); delete it and rerun to download it again, "
            f"or place a fresh copy of {url} there."
        )
    seen[str(cached)] = stamp
    # Only a cache of the check: when it cannot be written, the check is redone next time.
    with contextlib.suppress(OSError):
        write_atomic(paths.ensure_dir(seen_file.parent) / seen_file.name, json.dumps(seen).encode())


def _load_file(path: Path, s: Spec) -> dict[str, Any]:
    import torch

    if not path.is_file():
        raise InputError(f"The weights file {path} does not exist; check the path.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsUnavailable(
            f"{path} is not a usable PyTorch weights file ({_short(exc)}); pass the {s.name} "
            f"state_dict torchvision publishes, saved with torch.save."
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsUnavailable(
            f"{path} holds no state_dict (a dict of tensors); pass the {s.name} weights "
            "saved with torch.save(model.state_dict(), FILE)."
        )
    return state


def _check_shapes(
    model: nn.Module, state: dict[str, torch.Tensor], s: Spec, src: Path | None
) -> None:
    where = str(src) if src else f"the {s.name} weights"
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            raise WeightsUnavailable(
                f"{where} lacks the layer {key}: it holds the weights of another model, "
                f"not torchvision's {s.builder}."
            )
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise WeightsUnavailable(
                f"{where} does not fit the {s.name} encoder: {key} has shape "
                f"{list(state[key].shape)} in the file, {list(tensor.shape)} expected; "
                "it holds the weights of another model."
            )
    extra = sorted(set(state) - set(expected))
    if extra:
        raise WeightsUnavailable(
            f"{where} has layers torchvision's {s.builder} does not ({extra[0]}, ...): "
            "it holds the weights of another model."
        )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
