"""The feature store: append-only, indexed by content, crash-safe, skips bad photos with reasons."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from instacap import encoders, features
from instacap.features import FeatureStore


def _photo(path: Path, colour=(200, 40, 40), size=(48, 40), fmt="JPEG", mode="RGB", **kw) -> Path:
    Image.new(mode, size, colour).save(path, fmt, **kw)
    return path


def _photos(folder: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        arr = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
        out.append(folder / f"p{i}.png")
        Image.fromarray(arr).save(out[-1])
    return out


@pytest.fixture
def thumb():
    return encoders.get("thumbnail")


def test_append_lookup_and_memory_map(tmp_path):
    with FeatureStore(tmp_path / "f", dim=3, meta={"encoder": "x"}) as store:
        rows = store.append(["a", "b"], np.array([[1, 2, 3], [4, 5, 6]], np.float32))
        assert rows == {"a": 0, "b": 1}
        # Known hashes keep their row; only new ones are appended.
        assert store.append(["b", "c"], np.ones((2, 3), np.float32)) == {"b": 1, "c": 2}
    with FeatureStore(tmp_path / "f", dim=3) as store:
        m = store.matrix()
        assert isinstance(m, np.memmap) and m.dtype == np.float16 and m.shape == (3, 3)
        assert m[1].tolist() == [4, 5, 6] and m[2].tolist() == [1, 1, 1]
        assert store.lookup(["c", "zz"]) == {"c": 2}


def test_dim_mismatch_is_a_clear_error(tmp_path):
    FeatureStore(tmp_path / "f", dim=3, meta={}).close()
    with pytest.raises(Exception, match="holds 3-d features, not 5-d"):
        FeatureStore(tmp_path / "f", dim=5)


def test_crash_between_writing_and_recording_records_nothing(tmp_path, monkeypatch):
    store = FeatureStore(tmp_path / "f", dim=2, meta={})
    store.append(["a"], np.array([[1, 1]], np.float32))

    def crash(self, new):
        raise KeyboardInterrupt  # killed after the data was flushed, before the index commit

    with monkeypatch.context() as m, pytest.raises(KeyboardInterrupt):
        m.setattr(FeatureStore, "_record", crash)
        store.append(["b"], np.array([[2, 2]], np.float32))
    store.close()

    store = FeatureStore(tmp_path / "f", dim=2)
    assert store.count() == 1 and store.lookup(["b"]) == {}
    assert store.matrix_path.stat().st_size == 2 * 2 * 2  # the unrecorded row is on disk...
    assert store.append(["c"], np.array([[3, 3]], np.float32)) == {"c": 1}  # ...and cut off
    assert store.matrix_path.stat().st_size == 2 * 2 * 2
    assert store.matrix().tolist() == [[1, 1], [3, 3]]


def test_concurrent_writers_never_interleave(tmp_path):
    FeatureStore(tmp_path / "f", dim=4, meta={}).close()

    def writer(k: int) -> None:
        with FeatureStore(tmp_path / "f", dim=4) as store:
            for j in range(10):
                store.append([f"{k}-{j}"], np.full((1, 4), k * 100 + j, np.float32))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with FeatureStore(tmp_path / "f", dim=4) as store:
        assert store.count() == 30
        m = store.matrix()
        for k in range(3):
            for j, row in store.lookup([f"{k}-{j}" for j in range(10)]).items():
                assert m[row].tolist() == [float(k * 100 + int(j.split("-")[1]))] * 4


def test_compute_is_incremental(tmp_path, thumb):
    files = _photos(tmp_path, 5)
    first = features.compute(thumb, files[:3], batch_size=2, workers=0)
    assert (first.computed, first.reused) == (3, 0)
    again = features.compute(thumb, files, batch_size=2, workers=0)
    assert (again.computed, again.reused) == (2, 3)
    assert again.rows[:3] == first.rows
    third = features.compute(thumb, files, batch_size=2, workers=0)
    assert (third.computed, third.reused) == (0, 5)
    with FeatureStore.open(thumb) as store:
        stored = np.asarray(store.matrix()[third.rows], np.float32)
    direct = encoders.encode_files(thumb, files)
    np.testing.assert_allclose(stored, direct, atol=2e-2)  # float16 storage


def test_same_photo_twice_is_computed_once(tmp_path, thumb):
    (a,) = _photos(tmp_path, 1)
    b = tmp_path / "copy.png"
    b.write_bytes(a.read_bytes())
    result = features.compute(thumb, [a, b], workers=0)
    assert result.computed == 1 and result.rows[0] == result.rows[1] is not None


def test_interrupted_compute_keeps_finished_batches(tmp_path, thumb, monkeypatch):
    files = _photos(tmp_path, 6)
    calls = {"n": 0}
    real = type(thumb).forward

    def flaky(self, batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second batch
        return real(self, batch)

    with monkeypatch.context() as m, pytest.raises(KeyboardInterrupt):
        m.setattr(type(thumb), "forward", flaky)
        features.compute(thumb, files, batch_size=2, workers=0)
    resumed = features.compute(thumb, files, batch_size=2, workers=0)
    assert (resumed.reused, resumed.computed) == (2, 4)


def _bad_and_odd_photos(d: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    good = {
        "rgb": _photo(d / "rgb.jpg"),
        "cmyk": _photo(d / "cmyk.jpg", mode="CMYK", colour=(0, 200, 200, 0)),
        "palette": _photo(d / "pal.png", fmt="PNG", mode="P", colour=3),
        "alpha": _photo(d / "alpha.png", fmt="PNG", mode="RGBA", colour=(10, 200, 10, 100)),
        "16bit": _photo(d / "deep.png", fmt="PNG", mode="I;16", colour=40000),
    }
    frames = [Image.new("RGB", (30, 30), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(d / "anim.gif", save_all=True, append_images=frames[1:])
    good["animated"] = d / "anim.gif"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°
    _photo(d / "rotated.jpg", size=(60, 30), exif=exif.tobytes())
    good["exif"] = d / "rotated.jpg"

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (9, 9, 9)).save(buf, "JPEG")
    bad = {
        "empty file": d / "empty.jpg",
        "not an image": d / "notes.jpg",
        "corrupt": d / "truncated.jpg",
        "too large": d / "bomb.png",
        "missing": d / "gone.jpg",
    }
    bad["empty file"].write_bytes(b"")
    bad["not an image"].write_text("definitely not a photo")
    bad["corrupt"].write_bytes(buf.getvalue()[:200])
    Image.new("1", (9000, 9000)).save(bad["too large"])  # 81 MP: a decompression bomb
    return good, bad


def test_bad_photos_are_skipped_with_reasons_and_odd_ones_handled(tmp_path, thumb):
    good, bad = _bad_and_odd_photos(tmp_path)
    files = [*good.values(), *bad.values()]
    result = features.compute(thumb, files, batch_size=4, workers=0)
    assert result.computed == len(good)
    assert all(r is not None for r in result.rows[: len(good)])
    assert all(r is None for r in result.rows[len(good) :])
    assert dict(result.skipped) == dict.fromkeys(bad, 1)
    # Known-bad photos are not decoded again, but still counted.
    again = features.compute(thumb, files, workers=0)
    assert again.computed == 0 and dict(again.skipped) == dict.fromkeys(bad, 1)


def test_exif_rotation_is_applied(tmp_path, thumb):
    left = np.zeros((30, 60, 3), np.uint8)
    left[:, :30] = (250, 250, 250)  # white left half
    exif = Image.Exif()
    exif[0x0112] = 6  # viewer rotates 90° clockwise: white ends up on top
    Image.fromarray(left).save(tmp_path / "tagged.jpg", exif=exif.tobytes())
    Image.fromarray(np.rot90(left, k=-1).copy()).save(tmp_path / "upright.jpg")
    tagged, upright = encoders.encode_files(
        thumb, [tmp_path / "tagged.jpg", tmp_path / "upright.jpg"]
    )
    Image.fromarray(left).save(tmp_path / "untagged.jpg")
    (unrotated,) = encoders.encode_files(thumb, [tmp_path / "untagged.jpg"])
    assert np.abs(tagged - upright).mean() < 0.01
    assert np.abs(tagged - unrotated).mean() > 10 * np.abs(tagged - upright).mean()


def test_workers_give_the_same_features(tmp_path, thumb):
    files = _photos(tmp_path, 4)
    a = features.compute(thumb, files, batch_size=3, workers=2)
    assert a.computed == 4
    with FeatureStore.open(thumb) as store:
        stored = np.asarray(store.matrix()[a.rows], np.float32)
    np.testing.assert_allclose(stored, encoders.encode_files(thumb, files), atol=2e-2)
