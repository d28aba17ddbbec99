"""Where the shipped default model lives (installed with the package)."""

from __future__ import annotations

from pathlib import Path


def default_model_dir() -> Path:
    """The directory of the default model shipped inside the package (``jen1/assets/default``)."""
    return Path(__file__).resolve().parent / "assets" / "default"
