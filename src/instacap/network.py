"""The caption networks declared once: each parameter's name and shape, for a `ModelConfig`.

`model.py` and `transformer.py` build their torch modules from this table (they read every size
from it, never recompute one), `numpy_model.py` checks a run's `model.npz` against it, and
training checks the memory a size needs with it. No torch or NumPy here: `--help` lists the sizes
with their parameter counts without importing either.

Two families (docs/model.md):
- the LSTM (`merge`, `merge-init`, `merge-inject`): characters -> LSTM layers -> a small head,
  with the image added to the head (merge), starting the state (init) and fed at every step
  (inject);
- `transformer`: a character-level causal transformer, nanoGPT-style (pre-norm blocks, the head
  tied to the embedding), with the image projected to the model width and added to every
  position or given as a prefix position (`ModelConfig.image_input`).
"""

from __future__ import annotations

from instacap.config import ARCHS, ModelConfig
from instacap.errors import InputError

Shapes = dict[str, tuple[int, ...]]

LSTM_ARCHS = ("merge", "merge-init", "merge-inject")


def is_transformer(config: ModelConfig) -> bool:
    return config.arch == "transformer"


def check(config: ModelConfig) -> ModelConfig:
    """Raise InputError, in one sentence, for a config no network can be built from."""
    if config.arch not in ARCHS:
        raise InputError(f"Unknown architecture {config.arch!r}; use one of {', '.join(ARCHS)}.")
    if config.size == "auto":
        raise ValueError("size 'auto' is decided from the data set before a network is built")
    if config.layers < 1 or config.hidden < 1 or config.embed < 1:
        raise InputError("A model needs at least one layer and positive widths.")
    if is_transformer(config):
        if config.hidden % config.heads:
            raise InputError(
                f"The transformer's width {config.hidden} must divide into {config.heads} heads."
            )
        if config.image_input not in ("add", "prefix"):
            raise InputError(f"Unknown image input {config.image_input!r}; use 'add' or 'prefix'.")
    elif config.layers > 1 and config.arch == "merge":
        raise InputError("The original 'merge' network has one LSTM layer; use merge-inject.")
    return config


def parameters(config: ModelConfig, vocab: int, feature_dim: int) -> Shapes:
    """name -> shape of every parameter, named as in the torch state_dict. `feature_dim` is all
    the network reads per post: the photo's features, then `config.accounts` account slots."""
    check(config)
    if not 0 <= config.accounts <= feature_dim:
        raise ValueError(f"{config.accounts} account slots in {feature_dim} features")
    if is_transformer(config):
        return _transformer(config, vocab, feature_dim)
    return _lstm(config, vocab, feature_dim)


def count(config: ModelConfig, vocab: int, feature_dim: int) -> int:
    """How many numbers the network learns."""
    total = 0
    for shape in parameters(config, vocab, feature_dim).values():
        n = 1
        for d in shape:
            n *= d
        total += n
    return total


def _lstm(config: ModelConfig, vocab: int, feature_dim: int) -> Shapes:
    E, H, L = config.embed, config.hidden, config.layers
    image_dim = feature_dim - config.accounts  # the photo's features; the accounts follow
    has_image = feature_dim > 0  # a conditioning branch: the photo, the account, or both
    inject = has_image and config.arch == "merge-inject"
    shapes: Shapes = {"embed.weight": (vocab, E)}
    if image_dim > 0:
        shapes |= {"image.weight": (H, image_dim), "image.bias": (H,)}
    if config.accounts:
        shapes |= {"account.weight": (H, config.accounts)}  # one row per account slot
    if has_image and config.arch != "merge":
        # (h0, c0) of every layer from the conditioning branch
        shapes |= {"init.weight": (2 * H * L, H), "init.bias": (2 * H * L,)}
    for layer in range(L):
        # Layer 0 reads the characters (and, for inject, the image); the others the layer below.
        width = (E + (H if inject else 0)) if layer == 0 else H
        shapes |= {
            f"lstm.weight_ih_l{layer}": (4 * H, width),
            f"lstm.weight_hh_l{layer}": (4 * H, H),
            f"lstm.bias_ih_l{layer}": (4 * H,),
            f"lstm.bias_hh_l{layer}": (4 * H,),
        }
    if config.normalize:
        shapes |= {"text_norm.weight": (H,), "text_norm.bias": (H,)}
        if image_dim > 0:
            shapes |= {"image_norm.weight": (H,), "image_norm.bias": (H,)}
    return shapes | {
        "hidden.weight": (H, H),
        "hidden.bias": (H,),
        "out.weight": (vocab, H),
        "out.bias": (vocab,),
    }


def _transformer(config: ModelConfig, vocab: int, feature_dim: int) -> Shapes:
    C = config.hidden
    prefix = 1 if feature_dim > 0 and config.image_input == "prefix" else 0
    shapes: Shapes = {"tok.weight": (vocab, C), "pos.weight": (config.context + prefix, C)}
    image_dim = feature_dim - config.accounts  # the photo's features; the accounts follow
    if image_dim > 0:
        shapes |= {
            "image.weight": (C, image_dim),
            "image.bias": (C,),
            "image_norm.weight": (C,),
            "image_norm.bias": (C,),
        }
    if config.accounts:
        shapes |= {"account.weight": (C, config.accounts)}  # one row per account slot
    for b in range(config.layers):
        p = f"blocks.{b}."
        shapes |= {
            p + "ln1.weight": (C,),
            p + "ln1.bias": (C,),
            p + "qkv.weight": (3 * C, C),
            p + "qkv.bias": (3 * C,),
            p + "proj.weight": (C, C),
            p + "proj.bias": (C,),
            p + "ln2.weight": (C,),
            p + "ln2.bias": (C,),
            p + "fc.weight": (4 * C, C),
            p + "fc.bias": (4 * C,),
            p + "fc_out.weight": (C, 4 * C),
            p + "fc_out.bias": (C,),
        }
    # The output layer is the token embedding itself (tied), plus a bias.
    return shapes | {"ln_f.weight": (C,), "ln_f.bias": (C,), "out.bias": (vocab,)}


def training_bytes(
    config: ModelConfig, vocab: int, feature_dim: int, batch: int, length: int
) -> int:
    """A rough upper estimate of the memory one training step needs, in bytes: weights, their
    gradients and AdamW's two moments (4 copies of float32), plus the activations kept for the
    backward pass of a [batch, length] batch (per layer and position: the LSTM's 4 gates and
    states, the transformer's qkv, attention rows and 4x-wide MLP)."""
    params = count(config, vocab, feature_dim)
    H, L = config.hidden, config.layers
    per_position = L * (16 * H + length if is_transformer(config) else 8 * H) + 2 * vocab
    return 4 * (4 * params + 2 * batch * length * per_position)
