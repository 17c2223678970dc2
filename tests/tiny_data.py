"""A tiny demo data set (40 small drawn photos, thumbnail features), built once per test session
and copied into each test's own cache folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from instacap import dataset, demo
from instacap.config import PrepConfig
from instacap.posts import PostStore

TINY_PREP = PrepConfig(encoder="thumbnail", min_count=1, workers=0, val_share=0.25)


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("tiny") / "home"
    old = os.environ.get("INSTACAP_HOME")
    os.environ["INSTACAP_HOME"] = str(home)
    try:
        with PostStore.open(demo=True) as store:
            demo.generate(store, n=40, size=64)
        dataset.build(TINY_PREP, demo=True)
    finally:
        if old is None:
            del os.environ["INSTACAP_HOME"]
        else:
            os.environ["INSTACAP_HOME"] = old
    return home


@pytest.fixture
def tiny(tiny_home: Path, instacap_home: Path) -> dataset.Dataset:
    """The tiny data set ("demo"), in this test's cache folder."""
    shutil.copytree(tiny_home, instacap_home, dirs_exist_ok=True)
    return dataset.load("demo")
