"""The model behind the web UI and the HTTP API: validated jobs, one shared set of model slots.

Both doors (the Gradio queue and the ``/api`` routes) call one :class:`ModelRunner`, so the
model runs at most ``settings.concurrency`` jobs at a time whichever door they came through.
Every user-facing problem is a :class:`jen1.errors.Jen1Error` with a one-line message; the UI
shows it as a ``gr.Error`` and the API returns it as ``{"error": message}``.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jen1.audio import SAMPLE_RATE
from jen1.errors import AudioError, Jen1Error
from jen1.web.settings import ServerSettings

ProgressFn = Callable[[int, int], None]
MAX_PROMPT_CHARS = 2000
MAX_SEED = 2**63 - 1
BUSY_MESSAGE = "the server is busy: the queue is full, try again in a moment"
READABLE = "WAV, FLAC, OGG or MP3"


class BusyError(Jen1Error):
    """The queue is full: the request was refused, nothing ran."""


class UploadTooLargeError(Jen1Error):
    """An upload is over the server's size limit."""


@dataclass(frozen=True)
class Sampling:
    """Sampling settings of one request; ``None`` means the model's default."""

    steps: int | None = None
    cfg_scale: float | None = None
    sampler: str | None = None
    seed: int | None = None
    negative_prompt: str | None = None


@dataclass(frozen=True)
class Result:
    """One finished job.

    Attributes:
        task: ``"generate"``, ``"inpaint"`` or ``"continue"``.
        wav: (2, L) float32 at 48 kHz.
        prompt: the prompt used ("" when none).
        seed, steps, cfg_scale, sampler: the settings actually used.
        elapsed: wall-clock seconds of the model call.
        region: (start, end) seconds of the new audio inside ``wav``.
    """

    task: str
    wav: np.ndarray
    prompt: str
    seed: int
    steps: int
    cfg_scale: float
    sampler: str
    elapsed: float
    region: tuple[float, float]

    @property
    def seconds(self) -> float:
        return self.wav.shape[-1] / SAMPLE_RATE


def _number(value: Any, name: str, *, integer: bool = False) -> float | int | None:
    """Empty -> None; numbers (or numeric strings) -> float/int; anything else -> Jen1Error."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):  # JSON true/false: float(True) would pass as 1.0
        raise Jen1Error(f"{name} must be a number, got {str(value).lower()}")
    try:
        x = float(value)
    except OverflowError:  # an integer beyond float's range (10**400)
        raise Jen1Error(f"{name} is too large a number") from None
    except (TypeError, ValueError):
        raise Jen1Error(f"{name} must be a number, got {value!r:.40}") from None
    if not math.isfinite(x):
        raise Jen1Error(f"{name} must be a finite number, got {value!r}")
    if integer:
        if x != int(x):
            raise Jen1Error(f"{name} must be a whole number, got {value!r}")
        return int(x)
    return x


def parse_sampling(
    steps: Any = None,
    cfg_scale: Any = None,
    sampler: Any = None,
    seed: Any = None,
    negative_prompt: Any = None,
) -> Sampling:
    """Check the sampling settings of a request (from UI widgets or JSON) -> :class:`Sampling`."""
    from jen1.diffusion.generate import get_sampler

    steps_i = _number(steps, "steps", integer=True)
    if steps_i is not None and not 1 <= steps_i <= 1000:
        raise Jen1Error(f"steps must be between 1 and 1000, got {steps_i}")
    cfg = _number(cfg_scale, "cfg", integer=False)
    if cfg is not None and not 0 <= cfg <= 50:
        raise Jen1Error(f"cfg must be between 0 and 50, got {cfg}")
    seed_i = _number(seed, "seed", integer=True)
    if seed_i is not None and not 0 <= seed_i <= MAX_SEED:
        raise Jen1Error(f"seed must be between 0 and 2**63 - 1, got {seed_i}")
    if sampler is not None and not isinstance(sampler, str):
        raise Jen1Error(f"sampler must be a name, got {sampler!r}")
    sampler = sampler.strip() if sampler else None
    if sampler:
        get_sampler(sampler)
    neg = _text(negative_prompt, "negative prompt")
    return Sampling(steps_i, cfg, sampler or None, seed_i, neg)


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Jen1Error(f"the {name} must be text, got {type(value).__name__}")
    if len(value) > MAX_PROMPT_CHARS:
        raise Jen1Error(
            f"the {name} is {len(value)} characters long; the limit is {MAX_PROMPT_CHARS}"
        )
    return value.strip() or None


def load_upload(path: str | Path, settings: ServerSettings, name: str | None = None) -> np.ndarray:
    """Read an uploaded audio file, refusing what is too large, too long or not audio.

    Args:
        path: the uploaded file on disk.
        name: the name to show in messages (default: the file's name).

    Returns:
        (2, L) float32 at 48 kHz.
    """
    from jen1.audio import audio_info, load_audio

    path = Path(path)
    name = name or path.name
    try:
        size = path.stat().st_size
    except OSError:
        raise Jen1Error(f"the upload {name} is missing; upload it again") from None
    check_upload_size(size, settings, name)
    if size == 0:
        raise Jen1Error(f"{name} is empty (0 bytes)")
    try:
        info = audio_info(path)
    except AudioError:
        raise Jen1Error(f"{name} is not an audio file jen1 can read (use {READABLE})") from None
    if info["seconds"] > settings.max_seconds + 1e-6:
        raise Jen1Error(
            f"{name} is {info['seconds']:.1f} s long; this server accepts at most "
            f"{settings.max_seconds:g} s"
        )
    try:
        wav = load_audio(path)
    except AudioError:
        raise Jen1Error(f"{name} is not an audio file jen1 can read (use {READABLE})") from None
    return wav


def check_upload_size(size: int, settings: ServerSettings, name: str = "the upload") -> None:
    """Raise a one-line :class:`Jen1Error` when ``size`` bytes is over the upload limit."""
    if size > settings.max_upload_bytes:
        raise UploadTooLargeError(
            f"{name} is {size / 2**20:.1f} MB; the upload limit is {settings.max_upload_mb:g} MB"
        )


class ModelRunner:
    """Runs validated jobs on one pipeline, at most ``settings.concurrency`` at a time.

    Args:
        pipeline: a loaded :class:`jen1.pipeline.Pipeline` (loaded once per server).
        settings: the server's limits.
    """

    def __init__(self, pipeline: Any, settings: ServerSettings):
        self.pipeline = pipeline
        self.settings = settings
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        self._lock = threading.Lock()
        self._admitted = 0  # HTTP API requests running or waiting

    # --- admission for the HTTP API (the UI is admitted by Gradio's queue) --------------------
    def admit(self) -> None:
        """Take a place in the HTTP API's queue, or raise :class:`BusyError` when it is full."""
        with self._lock:
            if self._admitted >= self.settings.concurrency + self.settings.max_queue:
                raise BusyError(BUSY_MESSAGE)
            self._admitted += 1

    def release(self) -> None:
        with self._lock:
            self._admitted -= 1

    @property
    def admitted(self) -> int:
        return self._admitted

    # --- jobs ---------------------------------------------------------------------------------
    def _defaults(self, s: Sampling) -> tuple[int, float, str, int]:
        d = self.pipeline.cfg.sampling
        seed = s.seed if s.seed is not None else secrets.randbelow(2**31)
        return (
            d.steps if s.steps is None else s.steps,
            d.cfg_scale if s.cfg_scale is None else s.cfg_scale,
            d.sampler if s.sampler is None else s.sampler,
            seed,
        )

    def _check_seconds(self, seconds: Any, name: str) -> float:
        x = _number(seconds, name)
        if x is None:
            x = float(self.pipeline.cfg.sampling.seconds)
        if not 0 < x <= self.settings.max_seconds:
            raise Jen1Error(
                f"{name} must be more than 0 and at most {self.settings.max_seconds:g} s, got {x:g}"
            )
        return float(x)

    def _run(
        self,
        task: str,
        prompt: str | None,
        sampling: Sampling,
        call: Callable[[dict], Any],
        region: Callable[[np.ndarray], tuple[float, float]],
    ) -> Result:
        steps, cfg_scale, sampler, seed = self._defaults(sampling)
        kwargs = {
            "steps": steps,
            "cfg_scale": cfg_scale,
            "sampler": sampler,
            "seed": seed,
            "negative_prompt": sampling.negative_prompt,
        }
        with self._slots:
            t0 = time.perf_counter()
            out = call(kwargs)
            elapsed = time.perf_counter() - t0
        wav = out[0].detach().float().cpu().numpy()
        return Result(
            task, wav, prompt or "", seed, steps, cfg_scale, sampler, elapsed, region(wav)
        )

    def generate(
        self, prompt: Any, seconds: Any, sampling: Sampling, callback: ProgressFn | None = None
    ) -> Result:
        """Text-to-music: ``seconds`` of audio for ``prompt``."""
        text = _text(prompt, "prompt")
        if not text:
            raise Jen1Error("the prompt is empty: describe the music to generate")
        secs = self._check_seconds(seconds, "duration")
        return self._run(
            "generate",
            text,
            sampling,
            lambda kw: self.pipeline.generate([text], secs, callback=callback, **kw),
            lambda wav: (0.0, wav.shape[-1] / SAMPLE_RATE),
        )

    def inpaint(
        self,
        audio: np.ndarray,
        start: Any,
        end: Any,
        prompt: Any,
        sampling: Sampling,
        callback: ProgressFn | None = None,
    ) -> Result:
        """Regenerate ``[start, end)`` seconds of ``audio`` (2, L); the rest is kept."""
        text = _text(prompt, "prompt")
        a, e = _number(start, "start"), _number(end, "end")
        if a is None or e is None:
            raise Jen1Error("choose the start and the end of the part to regenerate")
        duration = audio.shape[-1] / SAMPLE_RATE
        if not 0 <= a < e:
            raise Jen1Error(f"start must be at least 0 and less than end (got {a:g} and {e:g})")
        if e > duration + 1e-6:
            raise Jen1Error(f"end {e:g} s is after the end of the audio ({duration:.2f} s)")
        e = min(e, duration)
        return self._run(
            "inpaint",
            text,
            sampling,
            lambda kw: self.pipeline.inpaint(audio, a, e, text, callback=callback, **kw),
            lambda wav: (float(a), float(e)),
        )

    def continue_(
        self,
        audio: np.ndarray,
        seconds: Any,
        prompt: Any,
        sampling: Sampling,
        callback: ProgressFn | None = None,
    ) -> Result:
        """Add ``seconds`` of music after ``audio`` (2, L)."""
        text = _text(prompt, "prompt")
        secs = self._check_seconds(seconds, "seconds to add")
        duration = audio.shape[-1] / SAMPLE_RATE
        if duration + secs > self.settings.max_seconds + 1e-6:
            raise Jen1Error(
                f"the result would be {duration + secs:.1f} s long; this server "
                f"makes at most {self.settings.max_seconds:g} s"
            )
        return self._run(
            "continue",
            text,
            sampling,
            lambda kw: self.pipeline.continue_(audio, text, secs, callback=callback, **kw),
            lambda wav: (duration, wav.shape[-1] / SAMPLE_RATE),
        )
