"""Inference API: text-to-music, inpainting, continuation and remix with one model.

    from jen1 import Pipeline
    pipe = Pipeline.from_pretrained()            # the shipped default model
    wav = pipe.generate(["lofi hip-hop beat with piano"], seconds=10, seed=0)   # (1, 2, 480000)

All three tasks share one procedure (JEN-1 in-context learning): 1. encode the prompt;
2. encode any given audio to normalised latents; 3. build the known-frames mask (1 = known);
4. sample latents with classifier-free guidance, bidirectional for generation and inpainting,
unidirectional (causal) for continuation; 5. decode in chunks; 6. splice the result into the
given audio. Audio longer than the model's window is generated window by window in causal
mode with the previous ``context_seconds`` as known frames, so memory does not grow with
duration (:func:`jen1.inference.windows.plan_windows`). A remix (SDEdit) encodes the whole
input, takes its latents to the noise level ``t = strength`` and samples them back with the
prompt over the same windows (:func:`jen1.inference.remix.remix_latents`).

A task is a request (:mod:`jen1.request`), validated there; :meth:`Pipeline.stream` runs one.
The task methods (:meth:`generate`, :meth:`inpaint`, :meth:`continue_`, :meth:`remix` and their
streaming forms, in :class:`jen1.inference.calls.TaskCalls`) build the request from their
arguments; their ``**sampling`` keywords are the fields of :class:`jen1.request.SamplingParams`
(``steps``, ``cfg_scale``, ``sampler``, ``seed``, ``negative_prompt``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from jen1.config import Jen1Config
from jen1.errors import Jen1Error
from jen1.inference.calls import TaskCalls
from jen1.inference.codec import LatentCodec
from jen1.inference.prompts import TextInputs, encode_text_inputs
from jen1.inference.rolling import ProgressFn, sample_rolling, sample_window
from jen1.inference.splice import splice_continuation, splice_gap
from jen1.inference.windows import num_frames, plan_continuation, plan_inpaint
from jen1.request import (
    MAX_SECONDS,
    ContinueRequest,
    GenerateRequest,
    InpaintRequest,
    RemixRequest,
    Request,
    SamplingParams,
    check_audio,
)

__all__ = ["MAX_SECONDS", "Pipeline", "ProgressFn"]


class Pipeline(TaskCalls):
    """A trained jen1 model (autoencoder + U-Net + the frozen text encoder it was trained with).

    Args:
        cfg: the model's config.
        autoencoder: ``AudioAutoencoder`` holding the fitted latent normaliser.
        unet: ``UNet1D``.
        text_encoder: the encoder named by ``cfg.text``.
        bf16: run the U-Net and the decoder under bf16 autocast (faster on CPUs with AVX-512
            BF16 and on GPUs). ``from_pretrained`` then also keeps the U-Net's conv and linear
            weights in bf16 (:func:`jen1.precision.cast_matmul_weights`).
        adapter: a LoRA adapter (its directory, made by ``jen1 export`` of a LoRA run) to merge
            into ``unet`` at ``adapter_scale``; refused if it is for another model. A request's
            ``adapter_scale`` changes the scale (:mod:`jen1.inference.adapter`).
    """

    def __init__(
        self,
        cfg: Jen1Config,
        autoencoder: torch.nn.Module,
        unet: torch.nn.Module,
        text_encoder: Any,
        *,
        bf16: bool = True,
        adapter: Any = None,
        adapter_scale: float = 1.0,
    ):
        self.cfg = cfg
        self.autoencoder = autoencoder.eval().requires_grad_(False)
        self.unet = unet.eval().requires_grad_(False)
        self.text_encoder = text_encoder
        self.bf16 = bf16
        self.device = next(unet.parameters()).device
        self.codec = LatentCodec(self.autoencoder, self.device, bf16)
        self.adapter = adapter
        if adapter is not None and not hasattr(adapter, "use"):  # a path: merge it here
            from jen1.inference.adapter import apply_adapter

            self.adapter = apply_adapter(self.unet, cfg, adapter, adapter_scale)
        from jen1.threads import govern_pipeline

        self.thread_governor = govern_pipeline(self)  # CPU threads follow the machine's load

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        *,
        device: str | torch.device = "cpu",
        bf16: bool | None = None,
        pack: bool = True,
        adapter: str | Path | None = None,
        adapter_scale: float = 1.0,
        fast: bool = False,
    ) -> Pipeline:
        """Load a model directory; ``None`` loads the default model shipped with the package.

        ``bf16=None`` runs in bf16 where ``device`` computes it natively (a CPU with AVX-512 BF16
        or AMX, a bf16-capable GPU) and in float32 elsewhere (:func:`jen1.precision.native_bf16`).
        On a CPU, ``pack`` also prepacks the U-Net's weights for oneDNN
        (:func:`jen1.diffusion.ops.pack_for_inference`): a few percent faster sampling for one
        more copy of the weights in memory (figures in ``benchmarks/README.md``); ``pack=False``
        keeps them plain. ``adapter``: a LoRA adapter directory, merged into the float32 U-Net
        at ``adapter_scale`` before the cast (see :class:`Pipeline`). ``fast``: sample with the
        model's few-step student (``DIR/fast``, :mod:`jen1.student`) and its settings instead
        of the model's own U-Net; refused with an adapter, which adapts the model's own.
        """
        from jen1.conditioning.text import load_text_encoder
        from jen1.inference.prepare import prepare_unet
        from jen1.models import load_components, resolve_model_dir
        from jen1.precision import native_bf16

        if fast and adapter is not None:
            from jen1.errors import Jen1Error

            raise Jen1Error("an adapter adapts the model's own U-Net, not its few-step student")
        if fast:
            from jen1.student import load_student

            cfg, mods = load_student(resolve_model_dir(path))
        else:
            cfg, mods = load_components(resolve_model_dir(path), ("autoencoder", "unet"))
        bf16 = native_bf16(device) if bf16 is None else bf16
        applied = None
        if adapter is not None:
            from jen1.inference.adapter import apply_adapter
            from jen1.request import SamplingParams

            SamplingParams(adapter_scale=adapter_scale)  # its range, checked in one place
            applied = apply_adapter(mods["unet"], cfg, adapter, adapter_scale)
        unet = prepare_unet(mods["unet"], cfg, device=device, bf16=bf16, pack=pack)
        enc = load_text_encoder(cfg.text, device=device)
        return cls(cfg, mods["autoencoder"].to(device), unet, enc, bf16=bf16, adapter=applied)

    # --- building blocks --------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.cfg.autoencoder.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.cfg.autoencoder.frame_rate

    def _frames(self, seconds: float) -> int:
        return num_frames(seconds, self.frame_rate)

    def _generator(self, params: SamplingParams, generator: torch.Generator | None):
        if generator is not None:
            return generator
        return torch.Generator(device=self.device).manual_seed(params.seed)

    def _text(self, prompts: tuple[str, ...] | None, batch: int, p: SamplingParams) -> TextInputs:
        """Step 1: the prompts (or the null text) and the negative prompt, encoded once."""
        args = (prompts, p.negative_prompt, batch, self.cfg.text.dim, self.device)
        return encode_text_inputs(self.text_encoder, *args)

    def _controls(self, req: Request, frames: int, *, beat_grid: bool, offset: int = 0):
        """Step 1b: what the model is told (``req.told``) as tensors over ``frames`` latent
        frames, the controlled part starting at frame ``offset``; None without controls.

        Only text-to-music draws a beat grid: elsewhere the known audio has its own beat phase,
        which an imposed grid would contradict, so the tempo travels in the global embedding.
        """
        if req.told is None:
            return None
        from jen1.conditioning.control_tensors import controls_to_tensors

        told = [t.controls for t in req.told]
        rate = self.frame_rate
        return controls_to_tensors(
            told, frames, rate, beat_grid=beat_grid, offset_seconds=offset / rate,
            device=self.device,
        )  # fmt: skip

    def _roll(self, known, mask, total: int, text, params, *, first_causal, gen, cb, controls):
        """Step 4: sample ``total`` latent frames after ``known`` (see :func:`sample_rolling`)."""
        args = (self.unet, self.cfg, known, mask, total, text, params)
        return sample_rolling(
            *args, first_causal=first_causal, bf16=self.bf16, generator=gen, callback=cb,
            controls=controls,
        )  # fmt: skip

    # --- tasks ------------------------------------------------------------------------------
    def stream(
        self,
        request: Request,
        audio: Any = None,
        *,
        generator: torch.Generator | None = None,
        callback: ProgressFn | None = None,
    ) -> Iterator[torch.Tensor]:
        """Run one request: (B, 2, n) float32 pieces at 48 kHz whose concatenation is the result.

        Checks the request (:meth:`~jen1.request.GenerateRequest.resolve`) and samples every
        latent frame before it returns (the latents of an hour are 23 MB); the iterator then
        decodes one decoder window per piece, so memory does not grow with duration.

        Args:
            request: what to make; its seed (or ``generator``) fixes the randomness.
            audio: the input of an inpainting, continuation or remix request, (2, L) or (B, 2, L)
                (:func:`jen1.request.check_audio`: integer PCM is scaled, NaN refused).
            callback: ``callback(i, total)`` after each sampler step.
        """
        from jen1.inference.adapter import adapter_scope

        with adapter_scope(self.adapter, request.sampling.adapter_scale):  # sampling inside
            return self._stream(request, audio, generator, callback)

    def _stream(self, request: Request, audio: Any, generator, callback) -> Iterator[torch.Tensor]:
        if isinstance(request, GenerateRequest):
            return self._generate(request.resolve(self.cfg), generator, callback)
        if audio is None:
            raise Jen1Error(f"a {request.task} request needs the audio it works on")
        wav = check_audio(audio)
        req = self.resolve(request, wav)
        if isinstance(req, InpaintRequest):
            return iter([self._inpaint(wav, req, generator, callback)])
        if isinstance(req, RemixRequest):
            return self._remix(wav, req, generator, callback)
        return self._continue(wav, req, generator, callback)

    def resolve(self, request: Request, audio: Any = None) -> Request:
        """``request`` checked against this model and completed: defaults, a seed, and what the
        model is told (``request.told``: explicit controls, the prompt's words, and for
        continuation and inpainting the tempo and key estimated from the known audio)."""
        from jen1.inference.estimate import complete_from_audio

        if isinstance(request, GenerateRequest):
            return request.resolve(self.cfg)
        wav = check_audio(audio)
        req = request.resolve(self.cfg, wav.shape)
        return complete_from_audio(req, wav, self.sample_rate)

    def _generate(self, req: GenerateRequest, generator, callback) -> Iterator[torch.Tensor]:
        b, c = len(req.prompts), self.cfg.autoencoder.latent_dim
        gen = self._generator(req.sampling, generator)
        text = self._text(req.prompts, b, req.sampling)
        empty = torch.zeros(b, c, 0, device=self.device)
        total = self._frames(req.seconds)
        z = self._roll(
            empty,
            torch.zeros(b, 1, 0, device=self.device),
            total,
            text,
            req.sampling,
            first_causal=False,
            gen=gen,
            cb=callback,
            controls=self._controls(req, total, beat_grid=True),
        )
        return self.codec.decode_stream(z, length=round(req.seconds * self.sample_rate))

    def _inpaint(self, wav, req: InpaintRequest, generator, callback) -> torch.Tensor:
        b, _, length = wav.shape
        gen = self._generator(req.sampling, generator)
        # 1. a latent window around the gap with context on both sides
        hop, window = self.cfg.autoencoder.hop, self._frames(self.cfg.sampling.window_seconds)
        win = plan_inpaint(req.start, req.end, length, self.frame_rate, hop, window)
        seg = wav[..., win.sample_start : win.sample_end]
        z, coded = self.codec.encode_known(seg)
        mask = torch.ones(b, 1, z.shape[-1], device=self.device)
        mask[..., win.gap[0] : win.gap[1]] = 0.0
        # 2. sample the gap bidirectionally
        text = self._text(req.prompts, b, req.sampling)
        controls = self._controls(req, z.shape[-1], beat_grid=False, offset=win.gap[0])
        args = (self.unet, self.cfg, z, mask, text, req.sampling)
        zg = sample_window(
            *args, causal=False, bf16=self.bf16, generator=gen, callback=callback,
            controls=controls,
        )  # fmt: skip
        generated = self.codec.decode(zg, length=seg.shape[-1], known=(coded, mask))
        generated = generated.to(wav.device)
        # 3. splice: input outside [start, end], generated inside, crossfades inside the gap
        a, e = round(req.start * self.sample_rate), round(req.end * self.sample_rate)
        xf = min(round(req.crossfade_seconds * self.sample_rate), (e - a) // 2)
        return splice_gap(wav, generated, win.sample_start, a, e, xf)

    def _continue(self, wav, req: ContinueRequest, generator, callback) -> Iterator[torch.Tensor]:
        b, _, length = wav.shape
        hop = self.cfg.autoencoder.hop
        gen = self._generator(req.sampling, generator)
        new = round(req.seconds * self.sample_rate)
        plan = plan_continuation(length, new, hop, self._frames(self.cfg.sampling.context_seconds))
        # 1. encode only the tail the model sees as context (whole frames)
        z_ctx, coded = self.codec.encode_known(
            wav[..., plan.first * hop : (plan.first + plan.known) * hop]
        )
        text = self._text(req.prompts, b, req.sampling)
        z = self._roll(
            z_ctx,
            torch.ones(b, 1, z_ctx.shape[-1], device=self.device),
            plan.total,
            text,
            req.sampling,
            first_causal=True,
            gen=gen,
            cb=callback,
            controls=self._controls(req, plan.total, beat_grid=False, offset=plan.known),
        )
        j = length - plan.first * hop  # where the input ends in the decoded audio
        xf = min(round(req.crossfade_seconds * self.sample_rate), length, j)
        # the context's frames decode from the autoencoder's own latents (exact low band)
        mask = torch.zeros(b, 1, z.shape[-1], device=self.device)
        mask[..., : coded.shape[-1]] = 1.0
        coded = torch.nn.functional.pad(coded, (0, z.shape[-1] - coded.shape[-1]))
        pieces = self.codec.decode_stream(
            z, length=length + new - plan.first * hop, known=(coded, mask)
        )
        return splice_continuation(wav, pieces, j, xf)

    def _remix(self, wav, req: RemixRequest, generator, callback) -> Iterator[torch.Tensor]:
        from jen1.inference.remix import remix_latents

        b, _, length = wav.shape
        gen = self._generator(req.sampling, generator)
        z = self.codec.encode(wav)  # (B, C, ceil(L / hop)): the last frame is padded
        text = self._text(req.prompts, b, req.sampling)
        args = (self.unet, self.cfg, z, req.strength, text, req.sampling)
        controls = self._controls(req, z.shape[-1], beat_grid=False)
        z = remix_latents(
            *args, bf16=self.bf16, generator=gen, callback=callback, controls=controls
        )
        return self.codec.decode_stream(z, length=length)
