"""The model behind the web UI and the HTTP API: validated jobs, one shared set of model slots.

Both doors (the Gradio queue and the ``/api`` routes) call one :class:`ModelRunner`, so the
model runs at most ``settings.concurrency`` jobs at a time whichever door they came through.
Every user-facing problem is a :class:`jen1.errors.Jen1Error` with a one-line message; the UI
shows it as a ``gr.Error`` and the API returns it as ``{"error": message}``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jen1.audio import SAMPLE_RATE
from jen1.errors import AudioError, Jen1Error
from jen1.request import (
    ContinueRequest,
    GenerateRequest,
    InpaintRequest,
    RemixRequest,
    Request,
    RequestError,
    SamplingParams,
    check_controls,
)
from jen1.web.settings import ServerSettings

ProgressFn = Callable[[int, int], None]
BUSY_MESSAGE = "the server is busy: the queue is full, try again in a moment"
READABLE = "WAV, FLAC, OGG or MP3"


class BusyError(Jen1Error):
    """The queue is full: the request was refused, nothing ran."""


class UploadTooLargeError(Jen1Error):
    """An upload is over the server's size limit."""


@dataclass(frozen=True)
class Result:
    """One finished job.

    Attributes:
        task: ``"generate"``, ``"inpaint"``, ``"continue"`` or ``"remix"``.
        wav: (2, L) float32 at 48 kHz.
        prompt: the prompt used ("" when none).
        seed, steps, cfg_scale, sampler: the settings actually used.
        elapsed: wall-clock seconds of the model call.
        region: (start, end) seconds of the new audio inside ``wav``.
        controls: what the model was told (:meth:`ToldControls.describe`), "" for a model
            without control conditioning.
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
    controls: str = ""

    @property
    def seconds(self) -> float:
        return self.wav.shape[-1] / SAMPLE_RATE


WEB_NAMES = {"cfg_scale": "cfg"}  # request fields as the UI and the HTTP API name them


def _number(value: Any, name: str, *, integer: bool = False) -> Any:
    """A widget or JSON value for a number: blank -> None; a numeric string -> int or float.

    Whole-number strings (``"9223372036854775807"``) become ints exactly, never through a
    float; everything else is left to the request's checks (:mod:`jen1.request`).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        return int(text) if integer and text.lstrip("+-").isdigit() else float(text)
    except ValueError:
        raise Jen1Error(f"{name} must be a number, got {value!r}") from None


@contextlib.contextmanager
def _web_names(extra: dict[str, str] | None = None) -> Iterator[None]:
    """Request errors with the fields spelled as the UI and the HTTP API spell them."""
    try:
        yield
    except RequestError as e:
        raise e.renamed({**WEB_NAMES, **(extra or {})}) from None


def parse_sampling(
    steps: Any = None,
    cfg_scale: Any = None,
    sampler: Any = None,
    seed: Any = None,
    negative_prompt: Any = None,
    adapter_scale: Any = None,
) -> SamplingParams:
    """The sampling settings of a request (from UI widgets or JSON), checked."""
    values = (
        _number(steps, "steps", integer=True),
        _number(cfg_scale, "cfg"),
        sampler if sampler is None or not isinstance(sampler, str) else sampler.strip() or None,
        _number(seed, "seed", integer=True),
        negative_prompt,
        _number(adapter_scale, "adapter_scale"),
    )
    with _web_names({"negative_prompt": "the negative prompt"}):
        return SamplingParams(*values)


def parse_controls(values: Any) -> Any:
    """Musical controls from UI widgets or JSON (``{"bpm": "120", "key": "D minor"}``;
    numbers or text, blank = not given), checked: a :class:`RequestError` names the field.
    Controls checked before pass through."""
    from jen1.conditioning.controls import Controls

    if values is None or isinstance(values, Controls):
        return values
    for k, v in values.items():
        if isinstance(v, bool) or not (v is None or isinstance(v, (str, int, float))):
            raise RequestError(f"{k} must be text or a number, got {type(v).__name__}", k)
    with _web_names():
        return check_controls(dict(values))


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
    def _run(
        self,
        req: Request,
        audio: np.ndarray | None,
        callback: ProgressFn | None,
        region: Callable[[np.ndarray], tuple[float, float]],
    ) -> Result:
        """Resolve ``req`` against the model (errors before the slot), run it in a slot."""
        import torch

        from jen1.inference.estimate import complete_from_audio

        cfg = self.pipeline.cfg
        with _web_names(self._names.get(req.task)):
            req = req.resolve(cfg) if audio is None else req.resolve(cfg, audio.shape)
        if audio is not None:  # tempo and key not given: estimated from the known audio
            wav_in = torch.as_tensor(audio)[None]
            req = complete_from_audio(req, wav_in, cfg.autoencoder.sample_rate)
        with self._slots:
            t0 = time.perf_counter()
            out = torch.cat(list(self.pipeline.stream(req, audio, callback=callback)), dim=-1)
            elapsed = time.perf_counter() - t0
        wav = out[0].detach().float().cpu().numpy()
        s = req.sampling
        prompt = req.prompts[0] if req.prompts else ""
        args = (s.seed, s.steps, s.cfg_scale, s.sampler, elapsed, region(wav))
        told = "" if req.told is None else req.told[0].describe()
        return Result(req.task, wav, prompt, *args, controls=told)

    _names = {"generate": {"seconds": "duration"}, "continue": {"seconds": "seconds to add"}}

    def _check_server_seconds(self, seconds: float | None, name: str) -> float:
        """The server's own limit on durations (``--max-seconds``), beyond the request's."""
        x = float(self.pipeline.cfg.sampling.seconds) if seconds is None else seconds
        if not 0 < x <= self.settings.max_seconds:
            raise Jen1Error(
                f"{name} must be more than 0 and at most {self.settings.max_seconds:g} s, got {x:g}"
            )
        return x

    def generate(
        self,
        prompt: Any,
        seconds: Any,
        sampling: SamplingParams,
        callback: ProgressFn | None = None,
        controls: dict[str, Any] | None = None,
    ) -> Result:
        """Text-to-music: ``seconds`` of audio for ``prompt``; ``controls``: the typed values
        of bpm, key, meter and chords (blank: not given; see :func:`parse_controls`)."""
        with _web_names(self._names["generate"]):
            secs = _number(seconds, "duration")
            req = GenerateRequest(_one(prompt), secs, sampling, parse_controls(controls))
        self._check_server_seconds(req.seconds, "duration")
        return self._run(req, None, callback, lambda wav: (0.0, wav.shape[-1] / SAMPLE_RATE))

    def inpaint(
        self,
        audio: np.ndarray,
        start: Any,
        end: Any,
        prompt: Any,
        sampling: SamplingParams,
        callback: ProgressFn | None = None,
        controls: dict[str, Any] | None = None,
    ) -> Result:
        """Regenerate ``[start, end)`` seconds of ``audio`` (2, L); the rest is kept."""
        a, e = _number(start, "start"), _number(end, "end")
        if a is None or e is None:
            raise Jen1Error("choose the start and the end of the part to regenerate")
        with _web_names():
            req = InpaintRequest(a, e, _one(prompt), sampling, controls=parse_controls(controls))
        return self._run(req, audio, callback, lambda wav: (req.start, req.end))

    def continue_(
        self,
        audio: np.ndarray,
        seconds: Any,
        prompt: Any,
        sampling: SamplingParams,
        callback: ProgressFn | None = None,
        controls: dict[str, Any] | None = None,
    ) -> Result:
        """Add ``seconds`` of music after ``audio`` (2, L)."""
        secs = _number(seconds, "seconds to add")
        with _web_names(self._names["continue"]):
            default = self.pipeline.cfg.sampling.seconds
            secs = default if secs is None else secs
            ctl = parse_controls(controls)
            req = ContinueRequest(secs, _one(prompt), sampling, controls=ctl)
        self._check_server_seconds(req.seconds, "seconds to add")
        duration = audio.shape[-1] / SAMPLE_RATE
        if duration + req.seconds > self.settings.max_seconds + 1e-6:
            raise Jen1Error(
                f"the result would be {duration + req.seconds:.1f} s long; this server "
                f"makes at most {self.settings.max_seconds:g} s"
            )
        return self._run(req, audio, callback, lambda wav: (duration, wav.shape[-1] / SAMPLE_RATE))

    def remix(
        self,
        audio: np.ndarray,
        strength: Any,
        prompt: Any,
        sampling: SamplingParams,
        callback: ProgressFn | None = None,
        controls: dict[str, Any] | None = None,
    ) -> Result:
        """Remix ``audio`` (2, L) towards ``prompt`` with ``strength`` 0..1 (default 0.5)."""
        from jen1.request import DEFAULT_STRENGTH

        x = _number(strength, "strength")
        with _web_names():
            x = DEFAULT_STRENGTH if x is None else x
            req = RemixRequest(x, _one(prompt), sampling, parse_controls(controls))
        return self._run(req, audio, callback, lambda wav: (0.0, wav.shape[-1] / SAMPLE_RATE))

def _one(prompt: Any) -> Any:
    """A request here makes one result: the prompt is one text (or None), never a list."""
    if prompt is not None and not isinstance(prompt, str):
        raise Jen1Error(f"the prompt must be text, got {type(prompt).__name__}")
    return prompt
