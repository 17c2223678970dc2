"""Shared test setup: every test gets its own cache directory and no network."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> None:
    # Loopback and Unix sockets (DataLoader workers, subprocesses) are fine; the internet is not.
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0] if isinstance(address, tuple) else str(address)
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"test tried to reach the network: {address!r}")
    return _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def instacap_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point INSTACAP_HOME at a fresh folder and forbid network access for the test."""
    home = tmp_path / "instacap-home"
    monkeypatch.setenv("INSTACAP_HOME", str(home))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    return home


@pytest.fixture
def one_torch_thread():
    """Tiny matrices: extra threads only spin (and the test machine is shared)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def model_vocab():
    """A small untrained LSTM (6 image features) and a vocabulary with emoji, for decoding tests."""
    import torch

    from instacap.config import ModelConfig
    from instacap.model import CaptionModel
    from instacap.tokenizer import build_vocab

    torch.manual_seed(0)
    vocab = build_vocab(["sunny beach day #beach @friend 🌊", "night city lights ✨"], 1)
    return CaptionModel(ModelConfig(embed=16, hidden=32), vocab.size, 6).eval(), vocab
