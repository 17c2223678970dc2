"""Encoders: the registry, the offline thumbnail descriptor, and the real weights-loading paths.

The weights tests use torchvision's small MobileNet-V3 (random init saved with torch.save) through
the same code path as vgg16/resnet50; the network is blocked by conftest.
"""

from __future__ import annotations

import hashlib
import pathlib
import random

import numpy as np
import pytest
import torch
import torchvision.models as tvm
from PIL import Image
from torchvision.models import Weights, WeightsEnum

from instacap import demo, encoders
from instacap.encoders import Spec, cnn, weights
from instacap.errors import BadImage, InputError, WeightsUnavailable

TINY = Spec(
    "tiny",
    576,
    64,
    "test encoder",
    builder="mobilenet_v3_small",
    weights="MobileNet_V3_Small_Weights.IMAGENET1K_V1",
    behead=encoders._set("classifier", encoders._identity),
)


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """The tiny encoder registered, and torch's hub cache in a fresh folder."""
    monkeypatch.setitem(encoders.REGISTRY, "tiny", TINY)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return TINY


def _random_state(builder: str = "mobilenet_v3_small", seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return getattr(tvm, builder)(weights=None).state_dict()


def _images(n: int = 2) -> list[Image.Image]:
    rng = np.random.default_rng(1)
    return [Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)) for _ in range(n)]


def test_registry_names_sizes_and_unknown_names():
    for name in ("vgg16", "resnet50", "efficientnet_b0", "mobilenet_v3", "thumbnail", "none"):
        s = encoders.spec(name)
        assert s.name == name and s.dim >= 0 and s.about
    assert encoders.spec("vgg16").dim == 4096 and encoders.spec("none").dim == 0
    with pytest.raises(InputError, match="Unknown encoder 'alexnet'"):
        encoders.get("alexnet")


def test_none_and_thumbnail_shapes(tmp_path):
    assert encoders.get("none").encode_images(_images(3)).shape == (3, 0)
    thumb = encoders.get("thumbnail")
    feats = thumb.encode_images(_images(3))
    assert feats.shape == (3, thumb.dim) and feats.dtype == np.float32
    assert np.isfinite(feats).all() and np.abs(feats).max() < 5
    (tmp_path / "x.jpg").write_bytes(b"garbage")
    with pytest.raises(BadImage):
        encoders.encode_files(thumb, [tmp_path / "x.jpg"])


def test_thumbnail_tells_demo_scenes_apart():
    thumb = encoders.get("thumbnail")
    rng = random.Random(7)
    scenes, photos = [], []
    for scene in demo.SCENES:
        for _ in range(6):
            scenes.append(scene)
            photos.append(demo.draw(scene, rng, size=96))
    x = thumb.encode_images(photos)  # [60, 142]
    z = (x - x.mean(0)) / (x.std(0) + 1e-3)
    labels = np.array(scenes)
    right = 0
    for i in range(len(z)):  # leave-one-out nearest scene centroid
        others = np.arange(len(z)) != i
        cents = {s: z[others & (labels == s)].mean(0) for s in demo.SCENES}
        guess = min(cents, key=lambda s: float(((z[i] - cents[s]) ** 2).sum()))
        right += guess == scenes[i]
    assert right / len(z) >= 0.95


def test_offline_without_cached_weights_names_the_file(tiny, tmp_path):
    with pytest.raises(WeightsUnavailable) as err:
        encoders.get("tiny")
    msg = str(err.value)
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    assert "mobilenet_v3_small-047dcff4.pth" in msg and str(folder) in msg
    assert "--weights FILE" in msg and "--encoder thumbnail" in msg
    assert not list(folder.glob("*"))  # no half-downloaded file left


def test_weights_file_is_loaded_for_real(tiny, tmp_path):
    torch.save(_random_state(seed=1), tmp_path / "a.pt")
    torch.save(_random_state(seed=2), tmp_path / "b.pt")
    a1 = encoders.get("tiny", weights=tmp_path / "a.pt")
    a2 = encoders.get("tiny", weights=tmp_path / "a.pt")
    b = encoders.get("tiny", weights=tmp_path / "b.pt")
    imgs = _images(2)
    fa1, fa2, fb = a1.encode_images(imgs), a2.encode_images(imgs), b.encode_images(imgs)
    assert fa1.shape == (2, 576)
    np.testing.assert_array_equal(fa1, fa2)  # the file's weights, not a fresh random init
    assert not np.allclose(fa1, fb)
    assert a1.key.startswith("tiny-") and a1.key != b.key  # features cached per weights file
    # Same numbers as the plain torchvision model (BatchNorm folding, channels-last change nothing).
    plain = tvm.mobilenet_v3_small()
    plain.load_state_dict(torch.load(tmp_path / "a.pt", weights_only=True))
    plain.classifier = torch.nn.Identity()
    x = torch.from_numpy(np.stack([a1.prepare(im) for im in imgs])).permute(0, 3, 1, 2) / 255.0
    mean = torch.tensor(encoders.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(encoders.IMAGENET_STD).view(1, 3, 1, 1)
    plain = plain.eval().to(memory_format=torch.channels_last)  # NCHW depthwise convs are slow
    with torch.no_grad():
        ref = plain(((x - mean) / std).contiguous(memory_format=torch.channels_last)).numpy()
    # Random weights shrink the features to ~1e-8, where CPU kernels (AVX2, AVX-512, bf16) differ
    # in the last digits: compare directions, which random weights of another seed do not share.
    assert encoders.cosine(fa1, ref).min() > 0.999
    assert encoders.cosine(fa1, fb).max() < 0.99


def test_weights_of_another_model_are_refused(tiny, tmp_path):
    torch.save(_random_state("resnet18"), tmp_path / "resnet.pt")
    with pytest.raises(WeightsUnavailable, match=r"lacks the layer .*another model"):
        encoders.get("tiny", weights=tmp_path / "resnet.pt")
    state = _random_state()
    state["features.0.0.weight"] = torch.zeros(16, 3, 5, 5)
    torch.save(state, tmp_path / "shape.pt")
    with pytest.raises(WeightsUnavailable, match=r"features.0.0.weight has shape \[16, 3, 5, 5\]"):
        encoders.get("tiny", weights=tmp_path / "shape.pt")
    with pytest.raises(InputError, match="does not exist"):
        encoders.get("tiny", weights=tmp_path / "nowhere.pt")


class _Sneaky:
    """Unpickling this would create a file: weights_only loading must refuse it."""

    def __init__(self, target: pathlib.Path) -> None:
        self.target = target

    def __reduce__(self):
        return (pathlib.Path.touch, (self.target,))


def test_tampered_files_never_run_code(tiny, tmp_path):
    sentinel = tmp_path / "pwned"
    torch.save({"w": _Sneaky(sentinel)}, tmp_path / "evil.pt")
    with pytest.raises(WeightsUnavailable, match="not a usable PyTorch weights file"):
        encoders.get("tiny", weights=tmp_path / "evil.pt")
    assert not sentinel.exists()
    good = tmp_path / "good.pt"
    torch.save(_random_state(), good)
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:5000])
    with pytest.raises(WeightsUnavailable, match="not a usable"):
        encoders.get("tiny", weights=tmp_path / "cut.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(WeightsUnavailable, match="holds no state_dict"):
        encoders.get("tiny", weights=tmp_path / "list.pt")


def test_cached_file_with_the_wrong_hash_is_refused(tiny, tmp_path):
    _, cached = weights.torchvision_location(tiny)
    cached.parent.mkdir(parents=True)
    torch.save(_random_state(), cached)  # right name, not torchvision's bytes
    with pytest.raises(WeightsUnavailable, match=r"damaged or was changed.*047dcff4"):
        encoders.get("tiny")


def test_cached_file_with_the_right_hash_loads(tiny, tmp_path, monkeypatch):
    blob = tmp_path / "blob.pt"
    torch.save(_random_state(seed=3), blob)
    prefix = hashlib.sha256(blob.read_bytes()).hexdigest()[:8]
    url = f"https://download.example.invalid/models/tiny-{prefix}.pth"
    enum = WeightsEnum("TinyWeights", {"V1": Weights(url=url, transforms=None, meta={})})
    monkeypatch.setattr(tvm, "TinyWeights", enum, raising=False)
    spec = Spec(**{**TINY.__dict__, "weights": "TinyWeights.V1"})
    monkeypatch.setitem(encoders.REGISTRY, "tiny", spec)
    _, cached = weights.torchvision_location(spec)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(blob.read_bytes())
    enc = encoders.get("tiny")
    assert enc.key == "tiny"
    ref = encoders.get("tiny", weights=blob).encode_images(_images(1))
    np.testing.assert_array_equal(enc.encode_images(_images(1)), ref)
    encoders.get("tiny")  # second time: the hash check is remembered, same result


def test_bfloat16_only_when_close_to_float32(tiny, tmp_path, monkeypatch):
    """The decision logic; real bfloat16 kernels are emulated on CPUs without them (and slow)."""
    torch.save(_random_state(), tmp_path / "w.pt")
    monkeypatch.setattr(cnn.TorchEncoder, "_bf16_possible", lambda self: True)
    drift = {"value": 0.0}
    real_run = cnn.TorchEncoder._run

    def run(self, batch, bf16):
        out = real_run(self, batch, False)
        if not bf16:
            return out
        return out + drift["value"] * np.abs(out).mean() * np.sign(np.sin(np.arange(out.shape[1])))

    monkeypatch.setattr(cnn.TorchEncoder, "_run", run)
    enc = encoders.get("tiny", weights=tmp_path / "w.pt")
    drift["value"] = 0.001  # close: bfloat16 is used
    enc.encode_images(_images(2))
    assert enc.precision == "bf16", enc.cosine
    enc = encoders.get("tiny", weights=tmp_path / "w.pt")
    drift["value"] = 1.0  # far: float32 is kept, and the agreement is reported
    feats = enc.encode_images(_images(2))
    assert enc.precision == "fp32" and enc.cosine < cnn.MIN_BF16_COSINE
    assert enc.info()["bf16_cosine"] == enc.cosine and feats.dtype == np.float32


def test_decoding_processes_only_where_they_help(tiny, tmp_path):
    """A CNN on the CPU decodes inline (workers would steal its cores); thumbnail decodes in 2."""
    torch.save(_random_state(seed=1), tmp_path / "a.pt")
    assert encoders.get("tiny", weights=tmp_path / "a.pt").decode_workers() == 0
    assert encoders.get("thumbnail").decode_workers() == 2
