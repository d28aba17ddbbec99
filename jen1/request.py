"""What a user asks for: one typed, frozen request per task, validated here and nowhere else.

The CLI, the web UI, the HTTP API and the Python API all build a :class:`GenerateRequest`,
:class:`InpaintRequest`, :class:`ContinueRequest` or :class:`RemixRequest` from their inputs
and hand it whole to :class:`jen1.pipeline.Pipeline`, which hands its :class:`SamplingParams`
whole to sampling.
Validation has two steps, both here:

1. Constructing a request checks everything that needs no model (types, ranges, prompts); a
   request that exists is well formed.
2. ``request.resolve(cfg, ...)`` checks what depends on the model's config and the input audio
   (a duration of at least one latent frame, an inpainting gap the model can fill, an end inside
   the audio) and fills in the model's defaults (steps, guidance, sampler, duration) and a
   random seed when none was given. Front ends call it with the model directory's config before
   the model loads; the pipeline calls it again (a resolved request resolves to itself).

Every problem is a one-line :class:`RequestError` naming the field; front ends that spell a
field differently (``--cfg`` on the command line) rename it with :meth:`RequestError.renamed`.

Accepted values: numbers may be Python or numpy scalars (``np.float32(2.5)`` seconds), never
booleans; whole numbers (steps, seed) may be floats with an integral value below 2**53, so
nothing is rounded. Seeds are whole numbers from 0 to ``MAX_SEED`` = 2**63 - 1 on every front
end. Prompts are a string or a list/tuple of strings (one per batch item).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from jen1.errors import Jen1Error

if TYPE_CHECKING:
    import torch

    from jen1.conditioning.controls import Controls
    from jen1.conditioning.told import ToldControls
    from jen1.config import Jen1Config, SamplingConfig

MAX_SECONDS = 3600.0  # longest audio one request makes (generate, or seconds added)
MAX_STEPS = 1000
MAX_CFG_SCALE = 50.0
MAX_SEED = 2**63 - 1
MAX_PROMPT_CHARS = 2000
MAX_BATCH = 64  # variations one command-line call makes
MAX_CROSSFADE_SECONDS = 0.1
DEFAULT_CROSSFADE_SECONDS = 0.05
INPAINT_MAX_GAP = 0.8  # the longest gap, as a share of the model's sampling window
DEFAULT_STRENGTH = 0.5  # remix: halfway between the input (0) and a new piece (1)
RANDOM_SEEDS = 2**31  # a seed drawn when none is given is below this (short to type back)
MAX_ADAPTER_SCALE = 2.0  # a LoRA adapter's update times this; past 2 it only adds artefacts


class RequestError(Jen1Error):
    """A bad request: one line, starting with the name of the field at fault (if any)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def renamed(self, names: dict[str, str]) -> RequestError:
        """This error with its field spelled as a front end spells it (``--cfg``)."""
        msg = str(self)
        if self.field in names and msg.startswith(self.field):
            msg = names[self.field] + msg[len(self.field) :]
        return RequestError(msg, names.get(self.field or "", self.field))


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _show(value: Any) -> str:
    """``repr(value)``, shortened when long (a 400-digit number stays one readable line)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


def _as_float(value: Any) -> float | None:
    """A number as a float (inf when too large for one), or None when not a number."""
    if not _is_number(value):
        return None
    try:
        return float(value)
    except OverflowError:  # an int beyond float range
        return math.inf if value > 0 else -math.inf


def check_real(value: Any, name: str) -> float:
    """A finite number (Python or numpy scalar, not a bool) -> float."""
    x = _as_float(value)
    if x is None:
        raise RequestError(f"{name} must be a number, got {_show(value)}", name)
    if not math.isfinite(x):
        raise RequestError(f"{name} must be a finite number, got {_show(value)}", name)
    return x


def check_integer(value: Any, name: str) -> int:
    """A whole number (int, numpy integer, or an integral float below 2**53) -> int, exactly."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    x = check_real(value, name)
    if x != int(x) or abs(x) >= 2**53:  # a float this large may already have been rounded
        raise RequestError(f"{name} must be a whole number, got {_show(value)}", name)
    return int(x)


def check_text(value: Any, name: str) -> str | None:
    """A string of at most ``MAX_PROMPT_CHARS`` -> itself, or None when blank or None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RequestError(f"{name} must be text, got {type(value).__name__}", name)
    if len(value) > MAX_PROMPT_CHARS:
        raise RequestError(
            f"{name} is {len(value)} characters long; the limit is {MAX_PROMPT_CHARS}", name
        )
    return value if value.strip() else None


def check_seconds(value: Any, name: str = "seconds") -> float:
    """A positive duration of at most ``MAX_SECONDS`` -> float."""
    x = _as_float(value)
    if x is not None and x <= 0:
        raise RequestError(f"{name} must be a positive number of seconds, got {_show(value)}", name)
    x = check_real(value, name)
    if x > MAX_SECONDS:
        raise RequestError(f"{name} {x:g} is more than the limit of {MAX_SECONDS:.0f} s", name)
    return x


def check_prompts(value: Any, *, required: bool) -> tuple[str, ...] | None:
    """A prompt or a list of prompts -> tuple of prompts, or None (no text).

    Required (text-to-music): every prompt must have text. Optional (inpainting, continuation):
    None, a blank string, or a list of blank strings means unconditional.
    """
    items = [value] if value is None or isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise RequestError(
            f"prompt must be text or a list of texts, got {type(value).__name__}", "prompt"
        )
    texts = [check_text(p, "prompt") for p in items]
    if texts and all(t is not None for t in texts):
        return tuple(t for t in texts if t is not None)
    if required or any(t is not None for t in texts):
        what = "is empty" if len(texts) <= 1 else "list has an empty entry"
        raise RequestError(f"prompt {what}: describe the music to generate", "prompt")
    return None


def _batch_prompts(prompts: tuple[str, ...] | None, batch: int) -> tuple[str, ...] | None:
    if prompts is None or len(prompts) == batch:
        return prompts
    if len(prompts) == 1:
        return prompts * batch
    raise RequestError(f"got {len(prompts)} prompts for a batch of {batch} inputs", "prompt")


def _check_crossfade(value: Any) -> float:
    x = check_real(value, "crossfade_seconds")
    if not 0 <= x <= MAX_CROSSFADE_SECONDS:
        raise RequestError(
            f"crossfade_seconds must be between 0 and {MAX_CROSSFADE_SECONDS}, got {x:g}",
            "crossfade_seconds",
        )
    return x


def _set(obj: Any, **values: Any) -> None:
    for k, v in values.items():  # normalise a frozen dataclass's fields in __post_init__
        object.__setattr__(obj, k, v)

CONTROL_FIELDS = ("bpm", "key", "mode", "meter", "chords")


def check_controls(value: Any) -> Controls | None:
    """Explicit musical controls: a :class:`~jen1.conditioning.controls.Controls`, or a dict of
    the values a user typed (``{"bpm": "120", "key": "D minor", "meter": "3/4"}``; None and
    blank values are not given) -> Controls, or None when nothing is set.

    A bad value is a :class:`RequestError` naming the control (``bpm``, ``key``, ...).
    """
    from jen1.conditioning.controls import ControlError, Controls

    if value is None:
        return None
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(CONTROL_FIELDS))
        if unknown:
            raise RequestError(
                f"controls: unknown control {unknown[0]!r} (known: {', '.join(CONTROL_FIELDS)})",
                "controls",
            )
        try:
            value = Controls.from_user(**value)
        except ControlError as e:
            raise RequestError(str(e), e.field) from None
    if not isinstance(value, Controls):
        raise RequestError(
            f"controls must be a Controls or a dict, got {type(value).__name__}", "controls"
        )
    return None if value.empty else value


def _resolve_told(
    req: Any, cfg: Jen1Config, prompts: tuple[str, ...] | None, batch: int
) -> tuple[ToldControls, ...] | None:
    """Per batch item, what the model is told (explicit controls, then the prompt's words).

    A model without control conditioning (``cfg.unet.controls`` None) refuses explicit
    controls and is told none (its prompts still carry their words as text).
    """
    from jen1.conditioning.told import resolve_controls

    if req.told is not None:
        return req.told
    if cfg.unet.controls is None:
        if req.controls is not None:
            name = next(f for f in CONTROL_FIELDS if getattr(req.controls, f) is not None)
            raise RequestError(
                f"{name}: this model was trained without musical controls and cannot follow "
                f"them (leave it out, or use a model trained with unet.controls)",
                name,
            )
        return None
    items = prompts if prompts is not None else (None,) * batch
    return tuple(resolve_controls(req.controls, p) for p in items)


@dataclass(frozen=True)
class SamplingParams:
    """How to sample; ``None`` means the model's default (``cfg.sampling``), or a random seed.

    Attributes:
        steps: sampler steps, 1..``MAX_STEPS``.
        cfg_scale: classifier-free guidance scale, 0..``MAX_CFG_SCALE`` (1 = no guidance).
        sampler: a name in :data:`jen1.diffusion.samplers.SAMPLERS`.
        seed: 0..``MAX_SEED``; the same seed and model give the same audio.
        negative_prompt: text to steer away from (replaces the null text in guidance).
        adapter_scale: how much of the pipeline's LoRA adapter to apply, 0..``MAX_ADAPTER_SCALE``
            (0 = the base model, 1 = as trained); None: the scale the pipeline was loaded with.
    """

    steps: int | None = None
    cfg_scale: float | None = None
    sampler: str | None = None
    seed: int | None = None
    negative_prompt: str | None = None
    adapter_scale: float | None = None

    def __post_init__(self) -> None:
        from jen1.diffusion.samplers import get_sampler

        steps, cfg, seed, sampler = self.steps, self.cfg_scale, self.seed, self.sampler
        if steps is not None:
            steps = check_integer(steps, "steps")
            if not 1 <= steps <= MAX_STEPS:
                raise RequestError(
                    f"steps must be between 1 and {MAX_STEPS}, got {_show(steps)}", "steps"
                )
        if cfg is not None:
            x = _as_float(cfg)
            if x is None:
                raise RequestError(f"cfg_scale must be a number, got {_show(cfg)}", "cfg_scale")
            if not 0 <= x <= MAX_CFG_SCALE:  # NaN fails too
                raise RequestError(
                    f"cfg_scale must be between 0 and {MAX_CFG_SCALE:g}, got {_show(cfg)}",
                    "cfg_scale",
                )
            cfg = x
        if seed is not None:
            seed = check_integer(seed, "seed")
            if not 0 <= seed <= MAX_SEED:
                raise RequestError(
                    f"seed must be between 0 and 2**63 - 1, got {_show(seed)}", "seed"
                )
        if sampler is not None:
            if not isinstance(sampler, str):
                raise RequestError(f"sampler must be a name, got {sampler!r}", "sampler")
            sampler = sampler.strip() or None
            if sampler is not None:
                try:
                    get_sampler(sampler)
                except Jen1Error as e:
                    raise RequestError(str(e), "sampler") from None
        neg = check_text(self.negative_prompt, "negative_prompt")
        _set(self, steps=steps, cfg_scale=cfg, seed=seed, sampler=sampler, negative_prompt=neg)
        if self.adapter_scale is not None:
            x = check_real(self.adapter_scale, "adapter_scale")
            if not 0 <= x <= MAX_ADAPTER_SCALE:
                raise RequestError(
                    f"adapter_scale must be between 0 and {MAX_ADAPTER_SCALE:g}, got {x:g}",
                    "adapter_scale",
                )
            _set(self, adapter_scale=x)

    def resolve(self, defaults: SamplingConfig) -> SamplingParams:
        """Every field set: the model's defaults where None, and a random seed if none given."""
        return SamplingParams(
            steps=defaults.steps if self.steps is None else self.steps,
            cfg_scale=float(defaults.cfg_scale if self.cfg_scale is None else self.cfg_scale),
            sampler=defaults.sampler if self.sampler is None else self.sampler,
            seed=secrets.randbelow(RANDOM_SEEDS) if self.seed is None else self.seed,
            negative_prompt=self.negative_prompt,
            adapter_scale=self.adapter_scale,
        )


def _min_seconds(cfg: Jen1Config, value: float, name: str) -> None:
    """At least one latent frame: shorter audio would decode to no samples at all."""
    least = cfg.autoencoder.hop / cfg.autoencoder.sample_rate
    if value < least:
        raise RequestError(
            f"{name} must be at least {least:g} s (one latent frame of this model), got {value:g}",
            name,
        )


def _audio_shape(audio_shape: tuple[int, ...]) -> tuple[int, int]:
    if len(audio_shape) == 2:
        return 1, int(audio_shape[-1])
    return int(audio_shape[0]), int(audio_shape[-1])


@dataclass(frozen=True)
class GenerateRequest:
    """Text-to-music: ``seconds`` of audio for each prompt (the batch is the prompts).

    Attributes:
        prompts: one prompt or several (normalised to a tuple of strings).
        seconds: duration, ``None`` for the model's default; longer than the model's window is
            generated by causal continuation, window by window.
        sampling: see :class:`SamplingParams`.
        controls: explicit musical controls (:func:`check_controls`: a ``Controls`` or a dict
            of typed values); the prompt's words fill in the rest.
        told: filled by ``resolve``: per batch item, what the model is told and from where
            (None for a model without control conditioning).
    """

    prompts: tuple[str, ...]
    seconds: float | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    controls: Controls | None = None
    told: tuple[ToldControls, ...] | None = None
    task: ClassVar[str] = "generate"

    def __post_init__(self) -> None:
        seconds = None if self.seconds is None else check_seconds(self.seconds)
        _set(self, prompts=check_prompts(self.prompts, required=True), seconds=seconds)
        _set(self, controls=check_controls(self.controls))

    def resolve(self, cfg: Jen1Config) -> GenerateRequest:
        """Checked against the model and completed with its defaults (see the module doc)."""
        seconds = cfg.sampling.seconds if self.seconds is None else self.seconds
        _min_seconds(cfg, seconds, "seconds")
        return dataclasses.replace(
            self,
            seconds=seconds,
            sampling=self.sampling.resolve(cfg.sampling),
            told=_resolve_told(self, cfg, self.prompts, len(self.prompts)),
        )


@dataclass(frozen=True)
class InpaintRequest:
    """Regenerate ``[start, end)`` seconds of the given audio, keeping everything else.

    Attributes:
        start, end: the gap in seconds, ``0 <= start < end <= duration``.
        prompts: text for the gap, one or one per batch item; ``None`` for unconditional.
        sampling: see :class:`SamplingParams`.
        crossfade_seconds: fades inside the gap at both ends, 0..``MAX_CROSSFADE_SECONDS``.
        controls: explicit musical controls (:func:`check_controls`: a ``Controls`` or a dict
            of typed values); the prompt's words fill in the rest.
        told: filled by ``resolve``: per batch item, what the model is told and from where
            (None for a model without control conditioning).
    """

    start: float
    end: float
    prompts: tuple[str, ...] | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    crossfade_seconds: float = DEFAULT_CROSSFADE_SECONDS
    controls: Controls | None = None
    told: tuple[ToldControls, ...] | None = None
    task: ClassVar[str] = "inpaint"

    def __post_init__(self) -> None:
        a, e = check_real(self.start, "start"), check_real(self.end, "end")
        if not 0 <= a < e:
            raise RequestError(
                f"start must be at least 0 and less than end (0 <= start < end), got "
                f"{a:g} and {e:g}",
                "start",
            )
        _set(
            self,
            start=a,
            end=e,
            prompts=check_prompts(self.prompts, required=False),
            crossfade_seconds=_check_crossfade(self.crossfade_seconds),
            controls=check_controls(self.controls),
        )

    def resolve(self, cfg: Jen1Config, audio_shape: tuple[int, ...]) -> InpaintRequest:
        """Checked against the model and the audio's (B, 2, L) or (2, L) shape, with defaults."""
        batch, length = _audio_shape(audio_shape)
        duration = length / cfg.autoencoder.sample_rate
        if self.end > duration + 1e-6:
            raise RequestError(
                f"end {self.end:g} s is after the end of the audio ({duration:.2f} s)", "end"
            )
        longest = INPAINT_MAX_GAP * cfg.sampling.window_seconds
        if self.end - self.start > longest:
            raise RequestError(
                f"the gap ({self.end - self.start:.2f} s) is longer than this model can inpaint "
                f"at once ({longest:.1f} s)",
                "end",
            )
        prompts = _batch_prompts(self.prompts, batch)
        return dataclasses.replace(
            self,
            prompts=prompts,
            sampling=self.sampling.resolve(cfg.sampling),
            told=_resolve_told(self, cfg, prompts, batch),
        )


@dataclass(frozen=True)
class ContinueRequest:
    """Continue the given audio left to right by ``seconds`` (unidirectional / causal mode).

    Attributes:
        seconds: seconds to add.
        prompts: text for the continuation, one or one per batch item; ``None``: unconditional.
        sampling: see :class:`SamplingParams`.
        crossfade_seconds: the input's last samples fade into the model's decoding of them.
        controls: explicit musical controls (:func:`check_controls`: a ``Controls`` or a dict
            of typed values); the prompt's words fill in the rest.
        told: filled by ``resolve``: per batch item, what the model is told and from where
            (None for a model without control conditioning).
    """

    seconds: float
    prompts: tuple[str, ...] | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    crossfade_seconds: float = DEFAULT_CROSSFADE_SECONDS
    controls: Controls | None = None
    told: tuple[ToldControls, ...] | None = None
    task: ClassVar[str] = "continue"

    def __post_init__(self) -> None:
        _set(
            self,
            seconds=check_seconds(self.seconds),
            prompts=check_prompts(self.prompts, required=False),
            crossfade_seconds=_check_crossfade(self.crossfade_seconds),
            controls=check_controls(self.controls),
        )

    def resolve(self, cfg: Jen1Config, audio_shape: tuple[int, ...]) -> ContinueRequest:
        """Checked against the model and the audio's (B, 2, L) or (2, L) shape, with defaults."""
        batch, length = _audio_shape(audio_shape)
        hop = cfg.autoencoder.hop
        if length < hop:
            raise RequestError(f"the audio to continue is too short (at least {hop} samples)")
        _min_seconds(cfg, self.seconds, "seconds")
        prompts = _batch_prompts(self.prompts, batch)
        return dataclasses.replace(
            self,
            prompts=prompts,
            sampling=self.sampling.resolve(cfg.sampling),
            told=_resolve_told(self, cfg, prompts, batch),
        )


def check_strength(value: Any) -> float:
    """A remix strength: a number from 0 (keep the input) to 1 (ignore it) -> float."""
    x = _as_float(value)
    if x is None:
        raise RequestError(f"strength must be a number from 0 to 1, got {_show(value)}", "strength")
    if not 0 <= x <= 1:  # NaN fails too
        raise RequestError(
            f"strength must be between 0 (keep the input) and 1 (ignore it), got {_show(value)}",
            "strength",
        )
    return x


@dataclass(frozen=True)
class RemixRequest:
    """Remix the given audio towards a prompt (audio-to-audio, SDEdit: Meng et al. 2021).

    The input's latent is taken to the noise level ``t = strength`` and sampled back with the
    prompt; the output keeps the input's length.

    Attributes:
        strength: 0..1; 0 returns the input through the autoencoder, 1 ignores the input.
        prompts: text to steer towards, one or one per batch item; ``None``: an unconditional
            variation.
        sampling: see :class:`SamplingParams`; ``steps`` is the step count of a whole run from
            pure noise, of which a remix runs the last ``ceil(steps * strength)``.
        controls: explicit musical controls (:func:`check_controls`).
        told: filled by ``resolve`` (see :class:`GenerateRequest`).
    """

    strength: float
    prompts: tuple[str, ...] | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    controls: Controls | None = None
    told: tuple[ToldControls, ...] | None = None
    task: ClassVar[str] = "remix"

    def __post_init__(self) -> None:
        _set(
            self,
            strength=check_strength(self.strength),
            prompts=check_prompts(self.prompts, required=False),
            controls=check_controls(self.controls),
        )

    def resolve(self, cfg: Jen1Config, audio_shape: tuple[int, ...]) -> RemixRequest:
        """Checked against the model and the audio's (B, 2, L) or (2, L) shape, with defaults."""
        batch, length = _audio_shape(audio_shape)
        hop, rate = cfg.autoencoder.hop, cfg.autoencoder.sample_rate
        if length < hop:
            raise RequestError(
                f"the audio to remix is too short ({length} samples; at least {hop})"
            )
        if length / rate > MAX_SECONDS + 1e-6:
            raise RequestError(
                f"the audio to remix is {length / rate:.0f} s long; the limit is "
                f"{MAX_SECONDS:.0f} s"
            )
        prompts = _batch_prompts(self.prompts, batch)
        return dataclasses.replace(
            self,
            prompts=prompts,
            sampling=self.sampling.resolve(cfg.sampling),
            told=_resolve_told(self, cfg, prompts, batch),
        )


Request = GenerateRequest | InpaintRequest | ContinueRequest | RemixRequest


def check_audio(audio: Any, what: str = "audio") -> torch.Tensor:
    """Audio given to the Python API -> float32 tensor (B, 2, L), checked.

    Accepts a numpy array or a tensor of shape (2, L) or (B, 2, L). Floating-point samples are
    taken as they are (48 kHz, nominally in [-1, 1]); integer PCM is scaled to [-1, 1] by its
    type's full scale (int16 / 32768, int32 / 2**31, uint8 centred on 128). NaN or infinite
    samples are refused.
    """
    import numpy as np
    import torch

    x = audio if isinstance(audio, torch.Tensor) else torch.as_tensor(np.asarray(audio))
    if x.dtype == torch.bool or x.is_complex():
        raise RequestError(f"{what} must hold real samples, got {x.dtype}")
    if x.dtype == torch.uint8:
        x = (x.float() - 128.0) / 128.0
    elif not x.is_floating_point():
        x = x.float() / float(2 ** (torch.iinfo(x.dtype).bits - 1))
    x = x.float()
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1] != 2:
        raise RequestError(
            f"{what} must be stereo of shape (2, L) or (B, 2, L), got {tuple(x.shape)}"
        )
    if x.shape[-1] == 0:
        raise RequestError(f"{what} is empty")
    if not torch.isfinite(x).all():
        raise RequestError(f"{what} holds NaN or infinite samples")
    return x
