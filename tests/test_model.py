"""The caption networks (the LSTM family and the transformer): loss at initialisation, masking,
overfitting, step == forward, and each built exactly as network.py declares it."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from instacap import network
from instacap.config import ARCHS, ORIGINAL_MODEL, ModelConfig
from instacap.model import CaptionModel, build

V, D = 40, 12
TRANSFORMER = ModelConfig(arch="transformer", hidden=32, layers=2, heads=4)
# Every kind of network: each LSTM variant, two LSTM layers, the transformer's two image inputs.
NETWORKS = [ModelConfig(arch=a) for a in ARCHS] + [
    ModelConfig(layers=2, embed=16, hidden=24),
    dataclasses.replace(TRANSFORMER, image_input="prefix"),
]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _batch(b: int = 4, t: int = 9, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, V, (b, t), generator=g)
    ids[:, 0] = 1  # BOS
    return torch.randn(b, D, generator=g), ids


@pytest.mark.parametrize("config", [ModelConfig(), ORIGINAL_MODEL, TRANSFORMER])
def test_initial_loss_is_near_uniform(config):
    torch.manual_seed(0)
    model = build(config, V, D)
    feats, ids = _batch(16, 20)
    _, loss = model(feats, ids[:, :-1], ids[:, 1:])
    assert abs(loss.item() - math.log(V)) < 0.25


@pytest.mark.parametrize("config", [ModelConfig(dropout=0.0), TRANSFORMER])
def test_masked_positions_do_not_change_the_loss(config):
    torch.manual_seed(0)
    model = build(config, V, D).eval()
    feats, ids = _batch(3, 10)
    ids[:, 6] = 2  # EOS
    ids[:, 7:] = 0  # PAD after it
    _, loss = model(feats, ids[:, :-1], ids[:, 1:])
    other = ids.clone()
    # What follows EOS in the input is never a target that counts: change it, the loss stays.
    other[:, 7:-1] = torch.randint(4, V, (3, 2))
    _, same = model(feats, other[:, :-1], ids[:, 1:])
    assert torch.equal(loss, same)
    # The mean covers only the real targets: the trimmed batch gives the same loss.
    _, trimmed = model(feats, ids[:, :6], ids[:, 1:7])
    assert torch.allclose(loss, trimmed, atol=1e-6)


@pytest.mark.parametrize("arch", ["merge", "merge-inject", "transformer"])
def test_tiny_model_overfits_a_handful_of_captions(arch):
    torch.manual_seed(0)
    model = build(ModelConfig(arch=arch, embed=16, hidden=48, dropout=0.0, image_dropout=0.0), V, D)
    feats, ids = _batch(4, 12)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-2)
    for _ in range(80):
        _, loss = model(feats, ids[:, :-1], ids[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


@pytest.mark.parametrize("config", NETWORKS)
@pytest.mark.parametrize("normalize", [True, False])
def test_step_by_step_matches_forward(config, normalize):
    """Decoding one token at a time with the carried state (the LSTM's (h, c), the transformer's
    key/value cache) gives the logits of the whole-prefix forward pass."""
    torch.manual_seed(0)
    model = build(dataclasses.replace(config, normalize=normalize), V, D).eval()
    feats, ids = _batch(2, 7)
    logits, _ = model(feats, ids)  # [B, T, V]
    state = None
    for t in range(ids.shape[1]):
        step, state = model.step(feats, ids[:, t], state)
        assert torch.allclose(step, logits[:, t], atol=1e-5)


def test_original_preset_is_the_student_network():
    model = CaptionModel(ORIGINAL_MODEL, V, 4096)
    names = {n for n, _ in model.named_parameters()}
    assert model.lstm.hidden_size == 128 and model.embed.embedding_dim == 128
    assert model.image.out_features == 128  # image features -> Linear(128), added after the LSTM
    assert not any("norm" in n or "init" in n for n in names)
    assert model.lstm.input_size == 128  # the image does not enter the LSTM


def test_text_only_model_has_no_image_branch():
    model = CaptionModel(ModelConfig(), V, 0)
    feats, ids = torch.zeros(2, 0), _batch(2, 5)[1]
    logits, _ = model(feats, ids)
    assert logits.shape == (2, 5, V) and model.image is None


@pytest.mark.parametrize("arch", ["merge-init", "merge-inject"])
def test_training_path_matches_the_stock_lstm(arch):
    """The fast path (lookup input gates, own recurrence, head on real positions) computes the
    same loss and gradients as nn.LSTM with the head over every position."""
    torch.manual_seed(0)
    model = CaptionModel(ModelConfig(arch=arch, dropout=0.0, image_dropout=0.0), V, D)
    feats, ids = _batch(5, 12)
    ids[1, 6], ids[1, 7:] = 2, 0  # one shorter caption: EOS, then PAD
    inputs, targets = ids[:, :-1], ids[:, 1:]
    fast = model.loss(feats, inputs, targets)
    fast_grads = torch.autograd.grad(fast, list(model.parameters()), allow_unused=True)
    model.stock = True
    _, stock = model(feats, inputs, targets)
    stock_grads = torch.autograd.grad(stock, list(model.parameters()), allow_unused=True)
    assert fast.item() == pytest.approx(stock.item(), abs=1e-6)
    for a, b in zip(fast_grads, stock_grads, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("config", [*NETWORKS, TRANSFORMER])
@pytest.mark.parametrize("feature_dim", [0, D])
def test_every_network_is_built_from_its_parameter_table(config, feature_dim):
    model = build(config, V, feature_dim)
    table = network.parameters(config, V, feature_dim)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == table
    assert sum(p.numel() for p in model.parameters()) == network.count(config, V, feature_dim)


def test_two_lstm_layers_train_like_the_stock_lstm():
    """The CPU recurrence stacked twice computes nn.LSTM(num_layers=2)'s loss and gradients."""
    torch.manual_seed(0)
    config = ModelConfig(layers=2, embed=16, hidden=24, dropout=0.0, image_dropout=0.0)
    model = build(config, V, D)
    feats, ids = _batch(5, 12)
    fast = model.loss(feats, ids[:, :-1], ids[:, 1:])
    fast_grads = torch.autograd.grad(fast, list(model.parameters()))
    model.stock = True
    _, stock = model(feats, ids[:, :-1], ids[:, 1:])
    stock_grads = torch.autograd.grad(stock, list(model.parameters()))
    assert fast.item() == pytest.approx(stock.item(), abs=1e-6)
    for a, b in zip(fast_grads, stock_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_the_transformer_sees_no_later_character_and_ties_its_output_to_the_embedding():
    torch.manual_seed(0)
    model = build(dataclasses.replace(TRANSFORMER, dropout=0.0), V, D).eval()
    feats, ids = _batch(2, 9)
    logits, _ = model(feats, ids)
    changed = ids.clone()
    changed[:, 5:] = torch.randint(4, V, (2, 4))
    later, _ = model(feats, changed)
    torch.testing.assert_close(logits[:, :5], later[:, :5])  # positions before the change agree
    assert not torch.allclose(logits[:, 5:], later[:, 5:])
    assert "out.weight" not in model.state_dict()  # the head is the token embedding


def test_the_transformer_refuses_captions_longer_than_its_context():
    model = build(dataclasses.replace(TRANSFORMER, context=8), V, D)
    feats, ids = _batch(2, 10)
    with pytest.raises(ValueError, match="attends over 8"):
        model(feats, ids)


@pytest.mark.parametrize("config", [ModelConfig(), TRANSFORMER])
def test_the_photo_s_features_never_drown_the_account(config):
    # Two posts, the same photo with features 1000 times larger than usual, two accounts: a
    # network with an account branch of its own writes differently for each account; one that
    # reads the account among the photo's features (runs trained before) loses it when the
    # features are L2-normalised together.
    torch.manual_seed(0)
    slots = torch.eye(3)[:2]  # accounts 0 and 1 of 3 slots
    photo, ids = _batch(1, 8)
    feats = torch.cat([1000 * photo.expand(2, -1), slots], dim=1)  # [2, D + 3]
    gaps = {}  # account slots -> how far apart the two accounts' logits are
    for accounts in (3, 0):
        model = build(dataclasses.replace(config, accounts=accounts), V, D + 3).eval()
        with torch.no_grad():
            logits, _ = model(feats, ids[:, :-1].expand(2, -1))
        gaps[accounts] = float((logits[0] - logits[1]).abs().max())
    assert gaps[3] > 20 * gaps[0]  # measured: 1600 times (LSTM), 100 times (transformer)


def test_account_slots_must_fit_in_the_features():
    with pytest.raises(ValueError, match="account slots"):
        network.parameters(ModelConfig(accounts=5), V, 4)
