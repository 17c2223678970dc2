"""The NumPy twin of the caption network: same logits and same captions as torch, loaded safely,
and captioning on CPU that never imports torch."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from instacap import numpy_model, runs, training
from instacap.config import ARCHS, ORIGINAL_MODEL, ModelConfig, SampleConfig, TrainConfig
from instacap.errors import CheckpointError
from instacap.model import Network, build
from instacap.numpy_model import NumpyModel
from instacap.sampling import Captioner, generate

pytest_plugins = ["tiny_data"]  # the `tiny` data set fixture
pytestmark = pytest.mark.usefixtures("one_torch_thread")

V, D = 30, 8
SMALL = ModelConfig(embed=16, hidden=32)


TRANSFORMER = ModelConfig(arch="transformer", hidden=32, layers=2, heads=4)


def _twins(config: ModelConfig, feature_dim: int = D) -> tuple[Network, NumpyModel]:
    torch.manual_seed(0)
    model = build(config, V, feature_dim).eval()
    with torch.no_grad():  # non-trivial LayerNorm and bias values, not their initial 1 and 0
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    arrays = {k: v.numpy() for k, v in model.state_dict().items()}
    return model, numpy_model.build(config, V, feature_dim, arrays)


@pytest.mark.parametrize(
    "config, feature_dim",
    [(dataclasses.replace(SMALL, arch=a), D) for a in ARCHS]
    + [(ORIGINAL_MODEL, D), (SMALL, 0), (dataclasses.replace(SMALL, layers=2), D)]
    + [(TRANSFORMER, 0), (dataclasses.replace(TRANSFORMER, image_input="prefix"), D)],
)
def test_numpy_steps_give_the_logits_of_torch(config, feature_dim):
    model, twin = _twins(config, feature_dim)
    feats = np.random.default_rng(1).standard_normal((3, feature_dim)).astype(np.float32)
    ids = np.random.default_rng(2).integers(4, V, size=(3, 12))  # [B, T]
    with torch.no_grad():
        want, _ = model(torch.from_numpy(feats), torch.from_numpy(ids))  # [B, T, V]
    step = twin.start(feats)
    got = np.stack([step(ids[:, : t + 1]) for t in range(ids.shape[1])], axis=1)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "seed, config", [(0, SMALL), (1, SMALL), (2, TRANSFORMER), (3, TRANSFORMER)]
)
def test_same_seed_same_captions_with_numpy_and_torch(seed, config):
    from instacap.tokenizer import build_vocab

    vocab = build_vocab(["sunny beach day #beach @friend 🌊 " * 2, "night city lights ✨"], 1)
    torch.manual_seed(seed)
    model = build(config, vocab.size, D).eval()
    arrays = {k: v.numpy() for k, v in model.state_dict().items()}
    twin = numpy_model.build(config, vocab.size, D, arrays)
    feats = np.random.default_rng(seed).standard_normal((2, D)).astype(np.float32)
    config = SampleConfig(n=3, seed=seed, max_len=40, temperature=1.0, top_p=0.95)
    a, b = generate(twin, vocab, feats, config), generate(model, vocab, feats, config)
    assert [[c.text for c in caps] for caps in a] == [[c.text for c in caps] for caps in b]
    for x, y in zip([c for caps in a for c in caps], [c for caps in b for c in caps], strict=True):
        assert x.mean_logprob == pytest.approx(y.mean_logprob, abs=1e-4)


@pytest.fixture
def run(tiny):
    return training.fit(tiny, SMALL, TrainConfig(epochs=1, batch_size=8, device="cpu"), name="np")


def test_training_saves_numpy_weights_and_captioner_uses_them(run, tiny):
    meta = runs.read_meta(run.path)
    assert (run.path / runs.ARRAYS_FILE).is_file() and meta.arrays_sha256 is not None
    captioner = Captioner.load("np")
    assert captioner.backend == "numpy"
    photo = tiny.val.images[0]
    caps = captioner.caption(photo, n=3, seed=5)
    assert len(caps) == 3 and all(c.text for c in caps)


def test_a_run_whose_numpy_weights_are_gone_is_one_sentence(run):
    (run.path / runs.ARRAYS_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"model\.npz is missing; train the run again"):
        Captioner.load("np")


def test_captioning_on_cpu_never_imports_torch(run, tiny, instacap_home):
    code = (
        "import sys; from instacap import Captioner; "
        f"caps = Captioner.load('np').caption({str(tiny.val.images[0])!r}, n=2, seed=0); "
        "assert len(caps) == 2; print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"INSTACAP_HOME": str(instacap_home), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.stdout.strip() == "False"


def _rewrite(run, data: bytes) -> None:
    """Replace model.npz and record its checksum, as a crafted run would."""
    import hashlib

    (run.path / runs.ARRAYS_FILE).write_bytes(data)
    meta = json.loads((run.path / runs.META_FILE).read_text())
    meta["arrays_sha256"] = hashlib.sha256(data).hexdigest()
    (run.path / runs.META_FILE).write_text(json.dumps(meta))


def test_pickled_object_in_model_npz_is_refused(run, capsys):
    buf = io.BytesIO()
    np.savez(buf, payload=np.array([print], dtype=object))
    _rewrite(run, buf.getvalue())
    with pytest.raises(CheckpointError, match="refused without running it"):
        runs.load("np")


def test_changed_truncated_or_misshapen_model_npz_is_refused(run):
    path = run.path / runs.ARRAYS_FILE
    data = path.read_bytes()
    path.write_bytes(data[:-10] + b"0" * 10)
    with pytest.raises(CheckpointError, match="does not match the checksum"):
        runs.load("np")
    _rewrite(run, data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        runs.load("np")
    buf = io.BytesIO()
    np.savez(buf, **{"embed.weight": np.zeros((3, 3), np.float32)})
    _rewrite(run, buf.getvalue())
    with pytest.raises(CheckpointError, match="does not fit the model"):
        runs.load("np")
