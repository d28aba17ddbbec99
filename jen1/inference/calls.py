"""The Python front end's keyword calls: each task's arguments become a request, then run.

:class:`TaskCalls` is the half of :class:`jen1.pipeline.Pipeline` that users call directly
(``pipe.generate("prompt", seconds=10, seed=0)``): each method builds the task's request
(:mod:`jen1.request`), where everything is validated, and hands it whole to ``self.stream``.
The ``**sampling`` keywords are the fields of :class:`jen1.request.SamplingParams`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from jen1.inference.rolling import ProgressFn
from jen1.request import (
    DEFAULT_CROSSFADE_SECONDS,
    DEFAULT_STRENGTH,
    ContinueRequest,
    GenerateRequest,
    InpaintRequest,
    RemixRequest,
    SamplingParams,
)


class TaskCalls:
    """Keyword calls of the four tasks; the class using it provides ``stream(request, audio,
    *, generator, callback)`` (:meth:`jen1.pipeline.Pipeline.stream`)."""

    def generate(
        self, prompts, seconds=None, *, controls=None, generator=None, callback=None, **sampling
    ):
        """Text-to-music: (B, 2, round(seconds * 48000)) float32 for B prompts.

        ``prompts``: one or a list; ``seconds``: default ``cfg.sampling.seconds``; ``controls``:
        musical controls, a :class:`~jen1.conditioning.controls.Controls` or a dict such as
        ``{"bpm": 120, "key": "D minor", "meter": "3/4", "chords": "Am F C G"}`` (for a model
        trained with ``unet.controls``); ``sampling``: :class:`~jen1.request.SamplingParams`
        fields. See :class:`~jen1.request.GenerateRequest`.
        """
        pieces = self.generate_stream(
            prompts, seconds, controls=controls, generator=generator, callback=callback, **sampling
        )
        return torch.cat(list(pieces), dim=-1)

    def generate_stream(
        self, prompts, seconds=None, *, controls=None, generator=None, callback=None, **sampling
    ):
        """:meth:`generate` as decoder-window pieces (see :meth:`stream`)."""
        req = GenerateRequest(prompts, seconds, SamplingParams(**sampling), controls)
        return self.stream(req, generator=generator, callback=callback)

    def inpaint(
        self,
        audio: Any,
        start: float,
        end: float,
        prompts: str | list[str] | None = None,
        *,
        crossfade_seconds: float = DEFAULT_CROSSFADE_SECONDS,
        controls: Any = None,
        generator: torch.Generator | None = None,
        callback: ProgressFn | None = None,
        **sampling: Any,
    ) -> torch.Tensor:
        """Regenerate ``[start, end)`` seconds of ``audio`` (2, L) or (B, 2, L), keeping the rest.

        Outside [start, end] the output equals the input sample for sample; inside, the first
        and last ``crossfade_seconds`` fade between input and generated audio. ``prompts=None``
        inpaints unconditionally; ``controls`` as in :meth:`generate` (tempo and key not set
        are estimated from the audio around the gap). Returns (B, 2, L) float32. See
        :class:`~jen1.request.InpaintRequest`.
        """
        params = SamplingParams(**sampling)
        req = InpaintRequest(start, end, prompts, params, crossfade_seconds, controls)
        return torch.cat(list(self.stream(req, audio, generator=generator, callback=callback)), -1)

    def continue_(self, audio, prompts=None, seconds=10.0, *, generator=None, callback=None, **kw):
        """Continue ``audio`` (B, 2, L) by ``seconds``: (B, 2, L + round(seconds * 48000)).

        The output starts with the input unchanged, except its last ``crossfade_seconds``, which
        fade into the model's decoding of them so that the join is seamless. ``controls`` as in
        :meth:`generate`; tempo and key not set are estimated from the input's end. See
        :class:`~jen1.request.ContinueRequest`.
        """
        pieces = self.continue_stream(
            audio, prompts, seconds, generator=generator, callback=callback, **kw
        )
        return torch.cat(list(pieces), dim=-1)

    def continue_stream(
        self,
        audio: Any,
        prompts: str | list[str] | None = None,
        seconds: float = 10.0,
        *,
        crossfade_seconds: float = DEFAULT_CROSSFADE_SECONDS,
        controls: Any = None,
        generator: torch.Generator | None = None,
        callback: ProgressFn | None = None,
        **sampling: Any,
    ) -> Iterator[torch.Tensor]:
        """:meth:`continue_` as pieces: the input (its end crossfaded), then the continuation."""
        params = SamplingParams(**sampling)
        req = ContinueRequest(seconds, prompts, params, crossfade_seconds, controls)
        return self.stream(req, audio, generator=generator, callback=callback)

    def remix(
        self,
        audio: Any,
        prompts: str | list[str] | None = None,
        strength: float = DEFAULT_STRENGTH,
        *,
        controls: Any = None,
        generator: torch.Generator | None = None,
        callback: ProgressFn | None = None,
        **sampling: Any,
    ) -> torch.Tensor:
        """Remix ``audio`` (2, L) or (B, 2, L) towards ``prompts``: (B, 2, L) float32 at 48 kHz.

        SDEdit: the input's latents are noised to ``t = strength`` and sampled back with the
        prompt. ``strength`` 0 returns the input through the autoencoder, 1 ignores it; the
        length is kept. ``prompts=None`` makes unconditional variations. See
        :class:`~jen1.request.RemixRequest` and :func:`jen1.inference.remix.remix_latents`.
        """
        pieces = self.remix_stream(
            audio,
            prompts,
            strength,
            controls=controls,
            generator=generator,
            callback=callback,
            **sampling,
        )
        return torch.cat(list(pieces), dim=-1)

    def remix_stream(
        self,
        audio: Any,
        prompts: str | list[str] | None = None,
        strength: float = DEFAULT_STRENGTH,
        *,
        controls: Any = None,
        generator: torch.Generator | None = None,
        callback: ProgressFn | None = None,
        **sampling: Any,
    ) -> Iterator[torch.Tensor]:
        """:meth:`remix` as decoder-window pieces (see :meth:`stream`)."""
        req = RemixRequest(strength, prompts, SamplingParams(**sampling), controls)
        return self.stream(req, audio, generator=generator, callback=callback)
