"""instacap: learn to write Instagram captions from public accounts.

`import instacap` stays light (no torch): heavy names are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Captioner", "InstacapError", "__version__"]

from instacap.errors import InstacapError

if TYPE_CHECKING:  # pragma: no cover
    from instacap.sampling import Captioner


def __getattr__(name: str) -> Any:
    # Lazy so that `import instacap` and `instacap --help` never import torch.
    if name == "Captioner":
        from instacap.sampling import Captioner

        return Captioner
    raise AttributeError(f"module 'instacap' has no attribute {name!r}")
