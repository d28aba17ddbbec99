"""jen1: text-guided universal music generation with omnidirectional latent diffusion (JEN-1).

Nothing heavy runs at import; ``jen1.Pipeline`` is imported lazily.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "Pipeline"]


def __getattr__(name: str) -> Any:
    if name == "Pipeline":
        from jen1.pipeline import Pipeline

        return Pipeline
    raise AttributeError(name)
