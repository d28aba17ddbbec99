"""A small generation evaluation run inside a diffusion training run (``--eval-every``).

Every ``every`` steps the EMA U-Net generates ``n`` clips for the first ``n`` prompts of a file
(the same prompts and seeds each time), musicnn embeds them and their FAD against a reference
set (a corpus' test split, embedded once and cached in the run directory) goes into the run's
logs as ``eval_fad``: the curve that shows when a run has stopped improving; beside it
``eval_lufs``, the generated clips' median loudness (a model that overshoots the data's level
scores badly on FAD for a reason the FAD alone does not show). It is far smaller
than ``jen1 eval generation`` (no style, tag or control metrics) so that it costs a few percent
of training time; use that command for the numbers a model card quotes.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jen1.errors import Jen1Error

REFERENCE_CACHE = "eval_reference.npz"


@dataclass(frozen=True)
class ProbeConfig:
    """What the in-training evaluation generates and compares with."""

    every: int  # steps between evaluations (> 0)
    prompts: Path  # a prompts file (jen1.eval.generation.read_prompts)
    reference: Path  # a corpus directory (its test split) or a folder of audio files
    n: int = 24  # clips generated per evaluation (prompts cycled)
    seconds: float = 10.0
    steps: int | None = None  # sampler steps; None: the model's default
    reference_n: int = 200  # reference clips (evenly spaced over the split)
    seed: int = 0

    def check(self) -> None:
        """Refuse bad settings before training starts."""
        if self.every < 1:
            raise Jen1Error(f"--eval-every must be at least 1, got {self.every}")
        if self.n < 2:
            raise Jen1Error(f"--eval-n must be at least 2 (FAD needs a spread), got {self.n}")
        if not self.seconds > 0:
            raise Jen1Error(f"--eval-seconds must be positive, got {self.seconds}")
        if self.steps is not None and self.steps < 1:
            raise Jen1Error(f"--eval-steps must be at least 1, got {self.steps}")
        if not self.prompts.is_file():
            raise Jen1Error(f"--eval-prompts: no prompts file at {self.prompts}")
        if not self.reference.exists():
            raise Jen1Error(f"--eval-reference: nothing at {self.reference}")


class GenerationProbe:
    """Callable ``probe(cfg, autoencoder, unet, text_encoder) -> {"fad", "lufs", "seconds"}``.

    ``autoencoder`` and ``unet`` (the EMA copy) are copied before use, so the caller's modules
    are left as they were; torch's thread count is left as it was.
    """

    def __init__(self, cfg: ProbeConfig, cache_dir: Path) -> None:
        from jen1.eval.generation import read_prompts, read_reference

        cfg.check()
        self.cfg = cfg
        self.prompts = read_prompts(cfg.prompts)
        clips = read_reference(cfg.reference)
        if len(clips) > cfg.reference_n:  # evenly spaced: every package, not the first few
            idx = np.linspace(0, len(clips) - 1, cfg.reference_n).round().astype(int)
            clips = [clips[i] for i in dict.fromkeys(idx.tolist())]
        self.reference_clips = clips
        self.cache_path = Path(cache_dir) / REFERENCE_CACHE
        self._tagger: Any = None
        self._reference: np.ndarray | None = None

    @property
    def tagger(self) -> Any:
        if self._tagger is None:
            from jen1.eval.musicnn import MusicnnMTT

            self._tagger = MusicnnMTT.from_package()
        return self._tagger

    def _reference_key(self) -> str:
        parts = [str(self.cfg.seconds)] + [str(c.path.resolve()) for c in self.reference_clips]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def reference_features(self) -> np.ndarray:
        """(M, 200) musicnn patch features of the reference clips (cached beside the run)."""
        if self._reference is not None:
            return self._reference
        key = self._reference_key()
        if self.cache_path.exists():
            saved = np.load(self.cache_path)
            if str(saved["key"]) == key:
                self._reference = saved["features"]
                return self._reference
        from jen1.audio import SAMPLE_RATE
        from jen1.eval.generation import _load

        feats = []
        for c in self.reference_clips:
            wav = _load(c.path, self.cfg.seconds)
            e = self.tagger.embed(wav[None], SAMPLE_RATE, hop_seconds=1.0)
            feats.append(e["penultimate"][0])
        self._reference = np.concatenate(feats, axis=0)
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_name(self.cache_path.name + ".tmp.npz")
        np.savez(tmp, key=np.array(key), features=self._reference)
        tmp.replace(self.cache_path)
        return self._reference

    @torch.no_grad()
    def __call__(
        self, cfg: Any, autoencoder: torch.nn.Module, unet: torch.nn.Module, text_encoder: Any
    ) -> dict[str, float]:
        from jen1.audio import SAMPLE_RATE
        from jen1.eval.fad import fad
        from jen1.eval.generation import generate_clips
        from jen1.eval.music import loudness_lufs
        from jen1.pipeline import Pipeline
        from jen1.precision import native_bf16

        t0 = time.perf_counter()
        threads = torch.get_num_threads()
        ref = self.reference_features()
        device = next(unet.parameters()).device
        # copies: the pipeline puts its modules in eval mode and hooks them for its governor
        pipe = Pipeline(
            cfg,
            copy.deepcopy(autoencoder),
            copy.deepcopy(unet),
            text_encoder,
            bf16=native_bf16(device.type),
        )
        if pipe.thread_governor is not None:  # training keeps its own thread count
            pipe.thread_governor.enabled = False
        try:
            feats, lufs = [], []
            for _, wavs in generate_clips(
                pipe,
                self.prompts,
                self.cfg.n,
                self.cfg.seconds,
                steps=self.cfg.steps,
                seed=self.cfg.seed,
                progress=False,
            ):
                for w in wavs:
                    e = self.tagger.embed(w[None], SAMPLE_RATE, hop_seconds=1.0)
                    feats.append(e["penultimate"][0])
                    lufs.append(loudness_lufs(w, SAMPLE_RATE))
        finally:
            torch.set_num_threads(threads)
        return {
            "fad": fad(np.concatenate(feats, axis=0), ref),
            "lufs": float(np.median(lufs)),  # -inf only when most clips are silent
            "seconds": time.perf_counter() - t0,
        }


def describe(cfg: ProbeConfig) -> str:
    """One line for the run's start: what the evaluation measures."""
    return json.dumps(
        {
            "every": cfg.every,
            "n": cfg.n,
            "seconds": cfg.seconds,
            "steps": cfg.steps,
            "prompts": str(cfg.prompts),
            "reference": str(cfg.reference),
        }
    )
