"""`instacap prep` and `instacap.dataset`: splits, tokens, rebuild rules, bad photos, the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pytest
from typer.testing import CliRunner

from instacap import dataset, demo
from instacap.cli import app
from instacap.config import PrepConfig
from instacap.errors import InputError, NotReady
from instacap.posts import NewPost, PostStore
from instacap.tokenizer import BOS, EOS, PAD

THUMB = PrepConfig(encoder="thumbnail", min_count=2, workers=0, batch_size=16)


def _demo_store(n: int = 40) -> None:
    with PostStore.open(demo=True) as store:
        demo.generate(store, n=n, size=64)


def _add(store: PostStore, code: str, caption: str, image: bytes, account: str = "alice") -> None:
    store.add(
        NewPost(code, account, datetime(2024, 1, 1, tzinfo=timezone.utc), caption, "table"), image
    )


def test_build_splits_by_post_and_encodes_tokens():
    _demo_store(40)
    ds = dataset.build(THUMB, demo=True)
    assert ds.name == "demo" and ds.encoder == "thumbnail" and ds.feature_dim == 142
    assert len(ds.train) + len(ds.val) == 40 and len(ds.val) >= 1
    assert not set(ds.train.shortcodes) & set(ds.val.shortcodes)
    for split in (ds.train, ds.val):
        # 2 bytes a token: a small vocabulary fits int16 (disk and memory at a million posts)
        assert split.ids.shape == (len(split), 150) and split.ids.dtype == np.int16
        assert (split.ids[:, 0] == BOS).all()
        for row, n in zip(split.ids, split.lengths, strict=True):
            assert row[n - 1] == EOS and (row[n:] == PAD).all()
        feats = split.features(np.arange(len(split)))
        assert feats.shape == (len(split), 142) and feats.dtype == np.float32
    assert isinstance(ds.train.matrix, np.memmap)
    i = 0
    assert ds.vocab.decode(ds.train.ids[i]).replace("\ufffd", "") != ""
    assert ds.train.scenes[i] in demo.SCENES
    info = json.loads((ds.path / "dataset.json").read_text())
    for key in ("encoder", "fingerprint", "vocab_size", "train", "val", "accounts", "config"):
        assert key in info
    assert dataset.load("demo").fingerprint == ds.fingerprint


def test_accounts_are_read_without_the_posts_text_and_old_data_sets_still_load():
    _demo_store(40)
    built = dataset.build(THUMB, demo=True)
    ds = dataset.load("demo")
    for part in ("train", "val"):
        split, again = getattr(ds, part), getattr(built, part)
        assert split.accounts == [r["account"] for r in again.posts.records()]
        assert split.posts._records is None  # training's start reads no caption or path
        assert split.take(np.array([1, 0])).accounts == split.accounts[1::-1]
    # A data set written before the account numbers existed reads them from its posts' text.
    info = json.loads((ds.path / "dataset.json").read_text())
    del info["account_names"]
    (ds.path / "dataset.json").write_text(json.dumps(info))
    (ds.path / "train_accounts.npy").unlink()
    old = dataset.load("demo")
    assert old.train.accounts == built.train.accounts and old.val.accounts == built.val.accounts


def test_rebuilt_only_when_inputs_change():
    _demo_store(30)
    first = dataset.build(THUMB, demo=True)
    again = dataset.build(THUMB, demo=True)
    assert again.info.get("up_to_date") and again.fingerprint == first.fingerprint
    changed = dataset.build(PrepConfig(**{**THUMB.__dict__, "min_count": 1}), demo=True)
    assert changed.fingerprint != first.fingerprint and not changed.info.get("up_to_date")
    assert changed.info["computed"] == 0 and changed.info["reused"] == 30  # features cached
    _demo_store(36)  # six new posts: only their photos are encoded
    grown = dataset.build(THUMB, demo=True)
    assert grown.info["computed"] == 6 and grown.fingerprint != first.fingerprint
    # The split is keyed by post: growing the store moves no post between splits.
    assert set(first.val.shortcodes) <= set(grown.val.shortcodes)


def test_text_only_encoder_reads_no_photos():
    _demo_store(20)
    ds = dataset.build(PrepConfig(encoder="none", min_count=1, workers=0), demo=True, name="txt")
    assert ds.feature_dim == 0 and ds.train.features(np.arange(3)).shape == (3, 0)
    assert ds.info["computed"] == 0


def test_accounts_filter_and_bad_photos(tmp_path):
    good = tmp_path / "g.png"
    from PIL import Image

    Image.new("RGB", (32, 32), (0, 90, 200)).save(good)
    with PostStore.open() as store:
        for i in range(4):
            _add(store, f"a{i}", f"sea {i} 🌊", good.read_bytes())
        _add(store, "b0", "city", good.read_bytes(), account="bob")
        _add(store, "bad", "broken", b"not a jpeg at all")
    ds = dataset.build(THUMB, accounts=["alice"])
    assert ds.name == "default"
    assert sorted(ds.train.shortcodes + ds.val.shortcodes) == ["a0", "a1", "a2", "a3"]
    assert ds.info["skipped"] == {"not an image": 1}
    assert set(ds.info["accounts"]) == {"alice"}
    with pytest.raises(
        InputError, match=r"No stored posts from carol; accounts in the store: .*--accounts"
    ):
        dataset.build(THUMB, accounts=["carol"])
    with pytest.raises(InputError, match="not a valid Instagram account"):
        dataset.build(THUMB, accounts=["../x"])


def test_empty_store_and_missing_dataset_say_what_to_do():
    with pytest.raises(NotReady, match="instacap demo"):
        dataset.build(THUMB)
    with pytest.raises(NotReady, match="instacap prep"):
        dataset.load("default")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"val_share": 1.5}, "--val-share 1.5 must be between 0 and 1"),
        ({"max_len": 2}, "--max-len 2 is too short"),
        ({"min_count": 0}, "--min-count 0 must be at least 1"),
        ({"encoder": "alexnet"}, "alexnet"),
        ({"batch_size": 0}, "--batch-size must be at least 1, not 0."),
        ({"workers": -1}, "--workers must be 0 (decode inline) or more, not -1."),
    ],
)
def test_bad_settings_are_rejected_before_anything_is_written(bad, message, instacap_home):
    _demo_store(4)
    with pytest.raises(InputError) as err:
        dataset.build(PrepConfig(**{**THUMB.__dict__, **bad}), demo=True)
    assert message in str(err.value)
    assert not (instacap_home / "datasets").exists()


def test_prep_demo_on_a_fresh_cache_generates_the_demo_posts_first(monkeypatch):
    from instacap.errors import NotReady

    # The library's build only reads a store: an empty demo store is "no posts yet".
    with pytest.raises(NotReady, match="No posts to prepare"):
        dataset.build(THUMB, demo=True)
    real = demo.generate
    monkeypatch.setattr(demo, "generate", lambda store, n, **kw: real(store, n=24, size=48))
    res = CliRunner().invoke(
        app, ["prep", "--demo", "--encoder", "thumbnail", "--min-count", "2", "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["store"] == "demo" and summary["train"] + summary["val"] == 24


def test_cli_prep_on_demo_data_twice():
    _demo_store(24)
    runner = CliRunner()
    res = runner.invoke(app, ["prep", "--demo", "--encoder", "thumbnail", "--min-count", "2"])
    assert res.exit_code == 0, res.output
    assert "Data set demo" in res.output and "24 computed" in res.output
    res = runner.invoke(
        app, ["prep", "--demo", "--encoder", "thumbnail", "--min-count", "2", "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["up_to_date"] is True and summary["encoder"] == "thumbnail"
    assert summary["train"] + summary["val"] == 24


def test_cli_prep_errors_are_one_sentence():
    runner = CliRunner()
    res = runner.invoke(app, ["prep", "--encoder", "thumbnail"])
    assert res.exit_code == 1 and "instacap demo" in res.output and "Traceback" not in res.output
    # An unknown encoder is a usage error that names the registry's encoders.
    res = runner.invoke(app, ["prep", "--demo", "--encoder", "nope"])
    assert res.exit_code == 2 and "thumbnail" in res.output and "efficientnet_lite0" in res.output


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def start(self, task, total=None, **info):
        self.events.append(("start", task, total))

    def advance(self, task, n=1, **info):
        self.events.append(("advance", task, n, info))

    def note(self, text):
        self.events.append(("note", text))


def test_progress_reports_images_per_second_and_skips():
    _demo_store(12)
    with PostStore.open(demo=True) as store:
        _add(store, "zz", "broken photo", b"\x00" * 10, account="demo.broken")
    rec = _Recorder()
    dataset.build(THUMB, demo=True, reporter=rec)
    task = "thumbnail features"
    assert ("start", task, 13) in rec.events
    steps = [e for e in rec.events if e[0] == "advance" and e[1] == task]
    assert sum(e[2] for e in steps) == 13
    assert all("img_s" in e[3] for e in steps) and steps[-1][3]["skipped"] == 1
    assert any(e[0] == "note" and "Skipped 1 photo" in e[1] for e in rec.events)


def test_cli_prep_offline_torchvision_encoder_names_the_weights_file(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    _demo_store(4)
    res = CliRunner().invoke(app, ["prep", "--demo", "--encoder", "resnet50"])
    assert res.exit_code == 1
    text = " ".join(res.output.split())
    assert "resnet50-11ad3fa6.pth" in text and "--encoder thumbnail" in text
    assert not (tmp_path / "torch" / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth").exists()
