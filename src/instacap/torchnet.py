"""Torch pieces the networks share: modules sized from the parameter table (network.py), and
the check that a built network is exactly the table's."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from instacap import network
from instacap.tokenizer import PAD


def linear(shapes: network.Shapes, name: str) -> nn.Linear:
    """The nn.Linear whose weight is `shapes[name.weight]` ([out, in]), with a bias when listed."""
    out_features, in_features = shapes[f"{name}.weight"]
    return nn.Linear(in_features, out_features, bias=f"{name}.bias" in shapes)


def maybe_linear(shapes: network.Shapes, name: str) -> nn.Linear | None:
    """The nn.Linear `shapes` lists under `name`, None when it lists none."""
    return linear(shapes, name) if f"{name}.weight" in shapes else None


def split_conditioning(feats: Tensor, accounts: int) -> tuple[Tensor, Tensor]:
    """What a network reads per post, feats [B, D + A] -> the photo's features [B, D] and the
    `accounts` slots [B, A] that follow them (accounts.py)."""
    cut = feats.shape[-1] - accounts
    return feats[..., :cut], feats[..., cut:]


def with_account(
    img: Tensor | None, account: nn.Linear | None, slots: Tensor, drop: nn.Module
) -> Tensor | None:
    """The photo's branch img [B, H] (None without a photo) plus the account's row [B, H] from
    the one-hot `slots` [B, A], with the photo's dropout `drop`: added after the photo's
    normalisation, so the photo's features cannot drown it. img as it is without `account`."""
    if account is None:
        return img
    row = drop(account(slots.float()))  # [B, H]
    return row if img is None else img + row


def embedding(shapes: network.Shapes, name: str, padding_idx: int | None = None) -> nn.Embedding:
    """The nn.Embedding whose table is `shapes[name.weight]` ([rows, width])."""
    rows, width = shapes[f"{name}.weight"]
    return nn.Embedding(rows, width, padding_idx=padding_idx)


def norm(shapes: network.Shapes, name: str) -> nn.LayerNorm:
    """The LayerNorm `shapes` lists under `name`."""
    return nn.LayerNorm(shapes[f"{name}.weight"])


def maybe_norm(shapes: network.Shapes, name: str) -> nn.LayerNorm | None:
    """The LayerNorm `shapes` lists under `name`, None when it lists none."""
    return norm(shapes, name) if f"{name}.weight" in shapes else None


def check_shapes(module: nn.Module, shapes: network.Shapes) -> None:
    """The module's parameters must be exactly the table's: a network declared twice would drift."""
    got = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    if got != shapes:
        raise RuntimeError(
            f"{type(module).__name__} differs from network.parameters: {got} != {shapes}"
        )


def mean_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy of logits [B, T, V] over the targets [B, T] that are not PAD."""
    flat = logits.reshape(-1, logits.shape[-1]).float()
    return F.cross_entropy(flat, targets.reshape(-1), ignore_index=PAD)
