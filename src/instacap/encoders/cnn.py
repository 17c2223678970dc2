"""Running a pretrained CNN as an encoder: build, load weights, fold BatchNorm, bf16 when it pays."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from instacap.encoders import weights as wts
from instacap.encoders.base import Encoder, cosine
from instacap.encoders.registry import Spec
from instacap.progress import Reporter

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

# bfloat16 is used only when its features stay this close (cosine) to float32 ones.
MIN_BF16_COSINE = 0.999


def build(
    s: Spec, weights: Path | None, pretrained: bool, reporter: Reporter, fast: bool = True
) -> tuple[nn.Module, str | None]:
    """(network that outputs [B, dim], SHA-256 of its weights file or None for random weights).

    `fast=False` keeps the network exactly as declared (bench/prep.py's plain way)."""
    from instacap.encoders.efficientnet_lite import EfficientNetLite

    if s.kind == "packaged":
        model: nn.Module = EfficientNetLite(s.variant)
    else:
        import torchvision.models as tvm

        model = getattr(tvm, s.builder)(weights=None)  # random init; real weights below
    state, digest = _state(s, weights, pretrained, reporter)
    if state is not None:
        wts.check_shapes(model, state, s, weights)
        model.load_state_dict(state)
    if s.behead is not None:
        s.behead(model)
    if fast and s.kind == "packaged":
        assert isinstance(model, EfficientNetLite)
        model = model.without_pads()  # the same features, without copying activations to pad
    return model, digest


def _state(
    s: Spec, weights: Path | None, pretrained: bool, reporter: Reporter
) -> tuple[dict[str, Any] | None, str | None]:
    if weights is not None:
        path = Path(weights).expanduser()
        return wts.load_file(path, s), wts.verified_sha256(path)
    if not pretrained:
        return None, None
    if s.kind == "packaged":
        path = wts.packaged_file(s)
        return wts.load_file(path, s), s.sha256
    return wts.torchvision_state(s, reporter)


class TorchEncoder(Encoder):
    """A pretrained CNN without its head, run in inference mode, channels-last."""

    def __init__(
        self,
        spec: Spec,
        key: str,
        weights: Path | None,
        device: str,
        pretrained: bool,
        reporter: Reporter,
    ) -> None:
        import torch

        # Tiny activations (random or badly scaled weights) as denormals slow a CPU ~100x.
        torch.set_flush_denormal(True)
        model, digest = build(spec, weights, pretrained, reporter)
        super().__init__(spec, key, digest)
        self.device = torch.device(device)
        model = fuse_batchnorm(model.eval())
        self.model = model.to(self.device).to(memory_format=torch.channels_last)
        self._mean = torch.tensor(spec.mean, device=self.device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(spec.std, device=self.device).view(1, 3, 1, 1) * 255
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
        self.cosine = float(min(cosine(ref, fast)))
        if self.cosine >= MIN_BF16_COSINE:
            self.precision = "bf16"

    def forward(self, batch: np.ndarray) -> np.ndarray:
        if not self._calibrated:
            self.calibrate(batch)
        return self._run(batch, self.precision == "bf16")


def fuse_batchnorm(model: nn.Module) -> nn.Module:
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
