"""Packages a plain ``pip install .`` leaves out, and the one line that says how to add each.

tinysoundfont and musicnn must be installed without their dependencies (tinysoundfont's pyaudio
is for live playback and often fails to build; musicnn pins an ancient numpy), so they are not
``pyproject`` extras; gradio is (``pip install 'jen1[web]'``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from jen1.errors import Jen1Error

INSTALL = {
    "tinysoundfont": "pip install --no-deps tinysoundfont==0.3.7",
    "musicnn": "pip install --no-deps musicnn==0.1.0",
    "gradio": "pip install 'jen1[web]'",
}


class MissingDependencyError(Jen1Error):
    """An optional package a command needs is not installed."""


def missing(module: str, purpose: str) -> MissingDependencyError:
    """The one-line error for ``module`` missing, naming what needs it and how to install it."""
    return MissingDependencyError(
        f"{purpose} needs {module}, which is not installed: {INSTALL[module]}"
    )


def require(module: str, purpose: str) -> ModuleType:
    """Import optional ``module`` or raise :class:`MissingDependencyError` saying what to install.

    Only the package itself being absent is turned into that message; a broken install (one of
    *its* imports failing) keeps its own error.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module:
            raise
        raise missing(module, purpose) from None
