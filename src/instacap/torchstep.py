"""The torch network behind the sampler's step-function interface (`numpy_model.StepFn`): the
same calls the NumPy networks answer, so sampling, beam search and re-ranking treat both alike.
torch is imported inside the functions: `import instacap.sampling` stays torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from instacap.numpy_model import StepFn

# feats [B, D] -> a step function for those photos.
Starter = Callable[[np.ndarray], StepFn]


@contextmanager
def evaluating(model: Any) -> Iterator[None]:
    """Eval mode and no autograd while decoding; the model's mode is given back afterwards."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def starter(model: Any, whole_prefix: bool) -> Starter:
    """Step functions of a torch network: `model.step` with its state carried forward, or (the
    slow reference) the whole network over the prefix at every step. Both offer `reorder`."""
    import torch

    device = next(model.parameters()).device

    def start(feats: np.ndarray) -> StepFn:
        feats_t = torch.as_tensor(feats, device=device)  # [B, D]
        state: list[Any] = [None]

        def step(prefix: np.ndarray) -> np.ndarray:
            if whole_prefix:
                logits = model(feats_t, torch.as_tensor(prefix, device=device))[0][:, -1]
            else:
                last = torch.as_tensor(prefix[:, -1], device=device)  # [B]
                logits, state[0] = model.step(feats_t, last, state[0])
            return logits.float().cpu().numpy()  # [B, V]

        def reorder(rows: np.ndarray) -> bool:
            """Beam search: row i continues from row rows[i] (beam.py). False when the state's
            batch dimension cannot be told apart; the caller then replays."""
            nonlocal feats_t
            if whole_prefix:  # no state: the next call reads the new prefixes whole
                feats_t = feats_t[torch.as_tensor(rows, device=device)]
                return True
            moved = _take_rows(state[0], torch.as_tensor(rows, device=device), len(rows))
            if moved is None:
                return False
            state[0], feats_t = moved, feats_t[torch.as_tensor(rows, device=device)]
            return True

        step.reorder = reorder  # type: ignore[attr-defined]
        return step

    return start


def _take_rows(state: Any, rows: Any, B: int) -> Any:
    """The torch step's opaque state (tensors, nested in tuples or lists) with its rows picked:
    each tensor along its one dimension of size B (0 or 1). None when that is ambiguous."""
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        parts = [_take_rows(s, rows, B) if s is not None else _NONE for s in state]
        return (
            None
            if any(p is None for p in parts)
            else type(state)(None if p is _NONE else p for p in parts)
        )
    if not hasattr(state, "dim"):  # a plain value (the transformer's cached length) stays
        return state
    dims = [d for d in (0, 1) if d < state.dim() and state.shape[d] == B]
    return state.index_select(dims[0], rows) if len(dims) == 1 else None


_NONE = object()  # a None inside a state (e.g. no image branch), kept as None
