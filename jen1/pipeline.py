"""Inference API: text-to-music, inpainting and continuation with one model.

    from jen1 import Pipeline
    pipe = Pipeline.from_pretrained()            # the shipped default model
    wav = pipe.generate(["lofi hip-hop beat with piano"], seconds=10, seed=0)   # (1, 2, 480000)

All three tasks share one procedure (JEN-1 in-context learning): 1. encode the prompt;
2. encode any given audio to normalised latents; 3. build the known-frames mask (1 = known);
4. sample latents with classifier-free guidance, bidirectional for generation and inpainting,
unidirectional (causal) for continuation; 5. decode in chunks; 6. splice the result into the
given audio. Audio longer than the model's window is generated window by window in causal
mode with the previous ``context_seconds`` as known frames, so memory does not grow with
duration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jen1.config import Jen1Config
from jen1.errors import Jen1Error

MAX_SECONDS = 3600.0
ProgressFn = Callable[[int, int], None]  # callback(done_steps, total_steps), 1-based


def _as_batch_audio(audio: Any, what: str = "audio") -> torch.Tensor:
    """numpy/tensor (2, L) or (B, 2, L) -> float32 tensor (B, 2, L)."""
    x = torch.as_tensor(
        np.asarray(audio, dtype=np.float32) if not isinstance(audio, torch.Tensor) else audio
    )
    x = x.float()
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1] != 2:
        raise Jen1Error(f"{what} must be stereo of shape (2, L) or (B, 2, L), got {tuple(x.shape)}")
    if x.shape[-1] == 0:
        raise Jen1Error(f"{what} is empty")
    return x


def _check_seconds(seconds: float, what: str = "seconds") -> float:
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
        raise Jen1Error(f"{what} must be a positive number, got {seconds!r}")
    if seconds > MAX_SECONDS:
        raise Jen1Error(f"{what} = {seconds} is more than the limit of {MAX_SECONDS:.0f} s")
    return float(seconds)


def cast_matmul_weights(module: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Store the weights of every Conv1d and Linear of ``module`` in ``dtype``, in place.

    Under autocast to the same dtype this gives the same outputs bit for bit (autocast casts
    those weights on every call anyway) without the casts: the small U-Net's forward went from
    78.5 to 73.7 ms (1 thread). Norms and other parameters stay float32, as autocast wants them.
    The module must then only run under autocast.
    """
    for m in module.modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.Linear)):
            m.to(dtype)
    return module


class Pipeline:
    """A trained jen1 model (autoencoder + U-Net + the frozen text encoder it was trained with).

    Args:
        cfg: the model's config.
        autoencoder: ``AudioAutoencoder`` holding the fitted latent normaliser.
        unet: ``UNet1D``.
        text_encoder: the encoder named by ``cfg.text``.
        bf16: run the U-Net and the decoder under bf16 autocast (faster on CPUs with AVX-512
            BF16 and on GPUs). ``from_pretrained`` then also keeps the U-Net's conv and linear
            weights in bf16 (``cast_matmul_weights``).
    """

    def __init__(
        self,
        cfg: Jen1Config,
        autoencoder: torch.nn.Module,
        unet: torch.nn.Module,
        text_encoder: Any,
        *,
        bf16: bool = True,
    ):
        self.cfg = cfg
        self.autoencoder = autoencoder.eval().requires_grad_(False)
        self.unet = unet.eval().requires_grad_(False)
        self.text_encoder = text_encoder
        self.bf16 = bf16
        self.device = next(unet.parameters()).device
        from jen1.threads import govern_pipeline

        self.thread_governor = govern_pipeline(self)  # CPU threads follow the machine's load
        self._null_cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    # --- loading ---------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        *,
        device: str | torch.device = "cpu",
        bf16: bool | None = None,
        pack: bool = True,
    ) -> "Pipeline":
        """Load a model directory; ``None`` loads the default model shipped with the package.

        ``bf16=None`` runs in bf16 where ``device`` computes it natively (a CPU with AVX-512 BF16
        or AMX, a bf16-capable GPU) and in float32 elsewhere (:func:`jen1.precision.native_bf16`).
        On a CPU, ``pack`` also prepacks the U-Net's weights for oneDNN
        (:func:`jen1.diffusion.packing.pack_for_inference`). Measured on 2 cores with the small
        model: its forward at the sampling window is about 5% faster than with plain bf16
        weights, sampling 5-8%, for one more copy of the weights in memory (+45 MB resident;
        peak RSS of long runs 684-780 MB against 683-716). ``pack=False`` keeps them plain.
        """
        from jen1.autoencoder.model import AudioAutoencoder
        from jen1.checkpoint import load_model_dir, load_state_strict
        from jen1.conditioning.text import load_text_encoder
        from jen1.diffusion.packing import pack_for_inference
        from jen1.diffusion.unet import UNet1D
        from jen1.paths import default_model_dir
        from jen1.precision import native_bf16

        if path is None:
            path = default_model_dir()
            if not (Path(path) / "model.safetensors").exists():
                raise Jen1Error(
                    f"the default model is not installed at {path}: reinstall jen1 from a full "
                    "checkout, or pass --model DIR (a directory made by 'jen1 export')"
                )
        cfg, state = load_model_dir(path, ("autoencoder", "unet"))
        ae = AudioAutoencoder(cfg.autoencoder)
        load_state_strict(ae, state["autoencoder"], "autoencoder")
        unet = UNet1D(cfg.unet, cfg.autoencoder.latent_dim, cfg.text.dim)
        load_state_strict(unet, state["unet"], "unet")
        enc = load_text_encoder(cfg.text, device=device)
        if bf16 is None:
            bf16 = native_bf16(device)
        if bf16:  # the modules are ours: keep the weights autocast would cast on every call
            cast_matmul_weights(unet, torch.bfloat16)
        unet.to(device)
        pipe = cls(cfg, ae.to(device), unet, enc, bf16=bf16)
        if pack and unet.null_text.device.type == "cpu" and pack_for_inference(unet):
            pipe._warm_unet()  # oneDNN reorders the weights once, not per call
        return pipe

    # --- helpers ---------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.cfg.autoencoder.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.cfg.autoencoder.frame_rate

    def _autocast(self):
        dev = self.device.type
        return torch.autocast(dev, dtype=torch.bfloat16, enabled=self.bf16)

    def _frames(self, seconds: float) -> int:
        return max(1, math.ceil(seconds * self.frame_rate - 1e-9))

    def _encode_text(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        emb, mask = self.text_encoder.encode(list(prompts))
        return emb.to(self.device), mask.to(self.device)

    def _generator(
        self, seed: int | None, generator: torch.Generator | None
    ) -> tuple[torch.Generator, int | None]:
        if generator is not None:
            return generator, seed
        if seed is None:
            seed = int(torch.seed() % (2**31))
        return torch.Generator(device=self.device).manual_seed(int(seed)), seed

    @torch.inference_mode()
    def encode_audio(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, 2, L) waveform -> (B, C, T) normalised latents (chunked, flat memory)."""
        with self._autocast():
            z = self.autoencoder.encode_chunked(wav.to(self.device)).float()
        return self.autoencoder.normalizer.normalize(z)

    @torch.inference_mode()
    def decode_latents(self, z: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """(B, C, T) normalised latents -> (B, 2, L) waveform (chunked, flat memory)."""
        z = self.autoencoder.normalizer.denormalize(z.float())
        with self._autocast():
            wav = self.autoencoder.decode_chunked(z, length=length)
        return wav.float().clamp(-1, 1)

    @torch.inference_mode()
    def decode_latents_stream(
        self, z: torch.Tensor, length: int | None = None
    ) -> Iterator[torch.Tensor]:
        """:meth:`decode_latents` one decoder window at a time: (B, 2, n) float32 pieces in order.

        Concatenated they equal ``decode_latents(z, length)``; memory holds one window.
        """
        z = self.autoencoder.normalizer.denormalize(z.float())
        pieces = self.autoencoder.decode_stream(z, length=length)
        while True:
            with self._autocast():
                piece = next(pieces, None)
            if piece is None:
                return
            yield piece.float().clamp(-1, 1)

    def _sample(
        self,
        known: torch.Tensor,
        mask: torch.Tensor,
        emb: torch.Tensor,
        emb_mask: torch.Tensor,
        *,
        causal: bool,
        steps: int,
        cfg_scale: float,
        sampler: str,
        generator: torch.Generator,
        neg: tuple | None,
        drop_text: bool,
        callback: ProgressFn | None,
    ) -> torch.Tensor:
        from jen1.diffusion.generate import sample_latents

        if drop_text:  # no prompt: sample unconditionally (the learned null text)
            neg = None
            cfg_scale = 1.0
            emb, emb_mask = self._null_text(emb.shape[0])
        with self._autocast():
            return sample_latents(
                self.unet,
                self.cfg.diffusion,
                known=known,
                mask=mask,
                text_emb=emb,
                text_mask=emb_mask,
                neg_text_emb=None if neg is None else neg[0],
                neg_text_mask=None if neg is None else neg[1],
                sampler=sampler,
                steps=steps,
                cfg_scale=cfg_scale,
                causal=causal,
                generator=generator,
                callback=callback,
            ).float()

    @torch.inference_mode()
    def _warm_unet(self) -> None:
        """One U-Net forward at the sampling window's shape (a CFG pair) on zeros.

        A packed conv serves the output width it first meets and runs unpacked at any other
        (:class:`jen1.diffusion.packing.Packed`): this makes that width the sampling window's,
        the one every generation of ``window_seconds`` or more, every continuation and long
        inpainting run at, whatever length the first request asks for.
        """
        from jen1.conditioning.conditions import Conditions

        c, frames = self.cfg.autoencoder.latent_dim, self._frames(self.cfg.sampling.window_seconds)
        emb, emb_mask = self._null_text(2)
        zeros = torch.zeros(2, c, frames, device=self.device)
        cond = Conditions(emb, emb_mask, zeros, zeros[:, :1])
        x = torch.zeros(2, 2 * c + 1, frames, device=self.device)
        with self._autocast():
            self.unet(x, torch.zeros(2, device=self.device), cond, causal=False)

    def _null_text(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Text input that the U-Net replaces by its learned null embedding."""
        emb = torch.zeros(batch, 1, self.cfg.text.dim, device=self.device)
        mask = torch.zeros(batch, 1, dtype=torch.bool, device=self.device)
        return emb, mask

    def _settings(
        self, steps: int | None, cfg_scale: float | None, sampler: str | None
    ) -> tuple[int, float, str]:
        from jen1.diffusion.generate import get_sampler

        s = self.cfg.sampling
        steps = s.steps if steps is None else int(steps)
        cfg_scale = s.cfg_scale if cfg_scale is None else float(cfg_scale)
        sampler = s.sampler if sampler is None else sampler
        get_sampler(sampler)
        if not 1 <= steps <= 1000:
            raise Jen1Error(f"steps must be between 1 and 1000, got {steps}")
        if not math.isfinite(cfg_scale) or cfg_scale < 0 or cfg_scale > 50:
            raise Jen1Error(f"cfg_scale must be between 0 and 50, got {cfg_scale}")
        return steps, cfg_scale, sampler

    @staticmethod
    def _prompts(
        prompts: str | list[str] | None, batch: int | None, required: bool
    ) -> list[str] | None:
        if prompts is None or (isinstance(prompts, str) and not prompts.strip()):
            if required:
                raise Jen1Error("the prompt is empty: describe the music to generate")
            return None
        if isinstance(prompts, str):
            prompts = [prompts] * (batch or 1)
        prompts = list(prompts)
        if not prompts or any(not isinstance(p, str) or not p.strip() for p in prompts):
            if required:
                raise Jen1Error("the prompt is empty: describe the music to generate")
            return None
        if batch is not None and len(prompts) == 1 and batch > 1:
            prompts = prompts * batch
        if batch is not None and len(prompts) != batch:
            raise Jen1Error(f"got {len(prompts)} prompts for a batch of {batch} inputs")
        return prompts

    def _roll(
        self,
        known: torch.Tensor,
        mask: torch.Tensor,
        total_frames: int,
        text: tuple,
        *,
        first_causal: bool,
        settings: tuple,
        generator: torch.Generator,
        neg: tuple | None,
        drop_text: bool,
        callback: ProgressFn | None,
    ) -> torch.Tensor:
        """Fill ``total_frames`` latents window by window.

        ``known``/``mask`` (B, C, T0)/(B, 1, T0) give the frames known at the start (T0 may be
        0). The first window is sampled with ``first_causal``; later windows are continuations
        in causal mode with the previous ``context_seconds`` as known frames.
        """
        steps, cfg_scale, sampler = settings
        b, c = known.shape[0], self.cfg.autoencoder.latent_dim
        window = max(2, self._frames(self.cfg.sampling.window_seconds))
        context = min(window - 1, self._frames(self.cfg.sampling.context_seconds))
        out = torch.zeros(b, c, total_frames, device=self.device)
        have = torch.zeros(b, 1, total_frames, device=self.device)
        t0 = known.shape[-1]
        out[..., :t0] = known
        have[..., :t0] = mask
        # windows: [start, start + window); the first starts at 0, or so that it ends at the
        # first unknown frame + window - context for continuations
        starts = []
        pos = 0 if t0 == 0 else max(0, t0 - context)
        while True:
            starts.append(pos)
            if pos + window >= total_frames:
                break
            pos = pos + window - context
        n_win = len(starts)
        for w, start in enumerate(starts):
            end = min(start + window, total_frames)
            cb = None
            if callback is not None:

                def cb(i: int, n: int, w: int = w) -> None:
                    callback(w * n + i, n_win * n)

            causal = first_causal if w == 0 else True
            z = self._sample(
                out[..., start:end],
                have[..., start:end],
                *text,
                causal=causal,
                steps=steps,
                cfg_scale=cfg_scale,
                sampler=sampler,
                generator=generator,
                neg=neg,
                drop_text=drop_text,
                callback=cb,
            )
            out[..., start:end] = z
            have[..., start:end] = 1.0
        return out

    # --- tasks -----------------------------------------------------------------------------
    def generate(
        self,
        prompts: str | list[str],
        seconds: float | None = None,
        *,
        steps: int | None = None,
        cfg_scale: float | None = None,
        sampler: str | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        negative_prompt: str | None = None,
        callback: ProgressFn | None = None,
    ) -> torch.Tensor:
        """Text-to-music (all at once; :meth:`generate_stream` for long pieces).

        Args:
            prompts: one prompt or a list (the batch).
            seconds: duration (default ``cfg.sampling.seconds``); longer than the window is
                generated by causal continuation window by window.
            steps, cfg_scale, sampler: sampling settings (defaults from ``cfg.sampling``).
            seed / generator: randomness (same seed -> same audio).
            negative_prompt: steer away from this text (replaces the null text in guidance).
            callback: ``callback(i, total)`` progress hook.

        Returns:
            (B, 2, L) float32 at 48 kHz, L = round(seconds * 48000).
        """
        pieces = self.generate_stream(
            prompts,
            seconds,
            steps=steps,
            cfg_scale=cfg_scale,
            sampler=sampler,
            seed=seed,
            generator=generator,
            negative_prompt=negative_prompt,
            callback=callback,
        )
        return torch.cat(list(pieces), dim=-1)

    def generate_stream(
        self,
        prompts: str | list[str],
        seconds: float | None = None,
        *,
        steps: int | None = None,
        cfg_scale: float | None = None,
        sampler: str | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        negative_prompt: str | None = None,
        callback: ProgressFn | None = None,
    ) -> Iterator[torch.Tensor]:
        """:meth:`generate` with the waveform handed out in decoder windows, for flat memory.

        Checks the arguments and samples every latent frame before it returns (the latents of
        an hour are 23 MB); the returned iterator decodes one window per (B, 2, n) float32
        piece. The pieces concatenated are :meth:`generate`'s output.
        """
        prompts_l = self._prompts(prompts, None, required=True)
        assert prompts_l is not None
        seconds = _check_seconds(self.cfg.sampling.seconds if seconds is None else seconds)
        settings = self._settings(steps, cfg_scale, sampler)
        gen, _ = self._generator(seed, generator)
        b = len(prompts_l)
        text = self._encode_text(prompts_l)
        neg = self._negative(negative_prompt, b)
        num_samples = round(seconds * self.sample_rate)
        total = self._frames(seconds)
        empty = torch.zeros(b, self.cfg.autoencoder.latent_dim, 0, device=self.device)
        z = self._roll(
            empty,
            torch.zeros(b, 1, 0, device=self.device),
            total,
            text,
            first_causal=False,
            settings=settings,
            generator=gen,
            neg=neg,
            drop_text=False,
            callback=callback,
        )
        return self.decode_latents_stream(z, length=num_samples)

    def _negative(self, negative_prompt: str | None, batch: int) -> tuple | None:
        if negative_prompt is None or not negative_prompt.strip():
            return None
        emb, mask = self._encode_text([negative_prompt])
        return emb.expand(batch, -1, -1), mask.expand(batch, -1)

    def inpaint(
        self,
        audio: Any,
        start: float,
        end: float,
        prompts: str | list[str] | None = None,
        *,
        steps: int | None = None,
        cfg_scale: float | None = None,
        sampler: str | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        negative_prompt: str | None = None,
        crossfade_seconds: float = 0.05,
        callback: ProgressFn | None = None,
    ) -> torch.Tensor:
        """Regenerate ``[start, end)`` seconds of ``audio``, keeping everything else.

        Outside [start, end] the output equals the input sample for sample; inside, the first
        and last ``crossfade_seconds`` (at most 0.1 s) fade between input and generated audio.

        Args:
            audio: (2, L) or (B, 2, L) at 48 kHz.
            start, end: the gap in seconds, 0 <= start < end <= duration.
            prompts: optional text for the gap (None: unconditional).

        Returns:
            (B, 2, L) float32, same length as ``audio``.
        """
        wav = _as_batch_audio(audio)
        b, _, length = wav.shape
        duration = length / self.sample_rate
        if not (isinstance(start, (int, float)) and isinstance(end, (int, float))):
            raise Jen1Error("start and end must be numbers of seconds")
        if not 0 <= start < end:
            raise Jen1Error(
                f"the inpainting range must satisfy 0 <= start < end, got {start}..{end}"
            )
        if end > duration + 1e-6:
            raise Jen1Error(
                f"the inpainting range {start}..{end} s ends after the audio ({duration:.2f} s)"
            )
        if not 0 <= crossfade_seconds <= 0.1:
            raise Jen1Error("crossfade_seconds must be between 0 and 0.1")
        window_s = self.cfg.sampling.window_seconds
        if end - start > 0.8 * window_s:
            raise Jen1Error(
                f"the gap ({end - start:.2f} s) is longer than this model can inpaint at once "
                f"({0.8 * window_s:.1f} s)"
            )
        prompts_l = self._prompts(prompts, b, required=False)
        settings = self._settings(steps, cfg_scale, sampler)
        gen, _ = self._generator(seed, generator)
        hop = self.cfg.autoencoder.hop
        # 1. a latent window around the gap with context on both sides
        window = self._frames(window_s)
        f_start = int(math.floor(start * self.frame_rate))
        f_end = min(int(math.ceil(end * self.frame_rate)), math.ceil(length / hop))
        spare = max(0, window - (f_end - f_start))
        w0 = max(0, f_start - spare // 2)
        s0, s1 = w0 * hop, min(length, (w0 + window) * hop)
        seg = wav[..., s0:s1]
        z = self.encode_audio(seg)
        mask = torch.ones(b, 1, z.shape[-1], device=self.device)
        mask[..., f_start - w0 : f_end - w0] = 0.0
        # 2. sample the gap bidirectionally
        text = self._encode_text(prompts_l) if prompts_l else self._null_text(b)
        neg = self._negative(negative_prompt, b)
        steps_, cfg_, sampler_ = settings
        zg = self._sample(
            z,
            mask,
            *text,
            causal=False,
            steps=steps_,
            cfg_scale=cfg_,
            sampler=sampler_,
            generator=gen,
            neg=neg,
            drop_text=prompts_l is None,
            callback=callback,
        )
        gen_wav = self.decode_latents(zg, length=seg.shape[-1]).to(wav.device)
        # 3. splice: input outside [start, end], generated inside, crossfades inside the gap
        a, e = round(start * self.sample_rate), round(end * self.sample_rate)
        out = wav.clone()
        out[..., a:e] = gen_wav[..., a - s0 : e - s0]
        xf = min(round(crossfade_seconds * self.sample_rate), (e - a) // 2)
        if xf > 0:
            ramp = torch.linspace(0, 1, xf + 2)[1:-1]
            out[..., a : a + xf] = (
                wav[..., a : a + xf] * (1 - ramp) + gen_wav[..., a - s0 : a - s0 + xf] * ramp
            )
            out[..., e - xf : e] = (
                gen_wav[..., e - xf - s0 : e - s0] * (1 - ramp) + wav[..., e - xf : e] * ramp
            )
        return out

    def continue_(
        self,
        audio: Any,
        prompts: str | list[str] | None = None,
        seconds: float = 10.0,
        *,
        steps: int | None = None,
        cfg_scale: float | None = None,
        sampler: str | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        negative_prompt: str | None = None,
        crossfade_seconds: float = 0.05,
        callback: ProgressFn | None = None,
    ) -> torch.Tensor:
        """Continue ``audio`` left to right by ``seconds`` (unidirectional / causal mode).

        The output starts with the input unchanged, except its last ``crossfade_seconds`` (at
        most 0.1 s), which fade into the model's decoding of them so that the join is seamless,
        and is ``seconds`` longer.

        Returns:
            (B, 2, L + round(seconds * 48000)) float32.
        """
        pieces = self.continue_stream(
            audio,
            prompts,
            seconds,
            steps=steps,
            cfg_scale=cfg_scale,
            sampler=sampler,
            seed=seed,
            generator=generator,
            negative_prompt=negative_prompt,
            crossfade_seconds=crossfade_seconds,
            callback=callback,
        )
        return torch.cat(list(pieces), dim=-1)

    def continue_stream(
        self,
        audio: Any,
        prompts: str | list[str] | None = None,
        seconds: float = 10.0,
        *,
        steps: int | None = None,
        cfg_scale: float | None = None,
        sampler: str | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        negative_prompt: str | None = None,
        crossfade_seconds: float = 0.05,
        callback: ProgressFn | None = None,
    ) -> Iterator[torch.Tensor]:
        """:meth:`continue_` with the waveform handed out in pieces, for flat memory.

        Checks the arguments and samples every latent frame before it returns; the returned
        iterator yields the input (with its crossfaded end), then the continuation one decoder
        window at a time, as (B, 2, n) float32 pieces whose concatenation is
        :meth:`continue_`'s output. Memory does not grow with ``seconds``.
        """
        wav = _as_batch_audio(audio)
        b, _, length = wav.shape
        seconds = _check_seconds(seconds)
        if not 0 <= crossfade_seconds <= 0.1:
            raise Jen1Error("crossfade_seconds must be between 0 and 0.1")
        prompts_l = self._prompts(prompts, b, required=False)
        settings = self._settings(steps, cfg_scale, sampler)
        gen, _ = self._generator(seed, generator)
        hop = self.cfg.autoencoder.hop
        context = self._frames(self.cfg.sampling.context_seconds)
        # 1. encode only the tail the model sees as context (whole frames)
        n_in = length // hop  # frames fully inside the input
        if n_in == 0:
            raise Jen1Error(f"the audio to continue is too short (at least {hop} samples)")
        c0 = max(0, n_in - context)
        z_ctx = self.encode_audio(wav[..., c0 * hop : n_in * hop])
        new = round(seconds * self.sample_rate)
        total_samples = length + new
        total_frames = math.ceil(total_samples / hop) - c0
        text = self._encode_text(prompts_l) if prompts_l else self._null_text(b)
        neg = self._negative(negative_prompt, b)
        z = self._roll(
            z_ctx,
            torch.ones(b, 1, z_ctx.shape[-1], device=self.device),
            total_frames,
            text,
            first_causal=True,
            settings=settings,
            generator=gen,
            neg=neg,
            drop_text=prompts_l is None,
            callback=callback,
        )
        j = length - c0 * hop  # where the input ends in the decoded audio (which starts at c0)
        xf = min(round(crossfade_seconds * self.sample_rate), length, j)
        pieces = self.decode_latents_stream(z, length=total_samples - c0 * hop)
        return _splice_continuation(wav, pieces, j, xf)


def _splice_continuation(
    wav: torch.Tensor, pieces: Iterator[torch.Tensor], j: int, xf: int
) -> Iterator[torch.Tensor]:
    """The input ``wav`` (B, 2, L), then the decoded pieces from their sample ``j`` on.

    The decoded audio starts ``L - j`` samples into the input, so its sample ``j`` is the first
    one after the input. The input's last ``xf`` samples fade into the model's own decoding of
    them, which runs seamlessly into the continuation (decoded in the same pass).
    """
    length = wav.shape[-1]
    yield wav[..., : length - xf]
    ramp = torch.linspace(0, 1, xf + 2)[1:-1]
    pos = 0  # samples of decoded audio seen so far
    for piece in pieces:
        piece = piece.to(wav.device)
        a, e = pos, pos + piece.shape[-1]
        pos = e
        lo, hi = max(a, j - xf), min(e, j)
        if lo < hi:  # inside the crossfade
            r = ramp[lo - (j - xf) : hi - (j - xf)]
            old = wav[..., length - (j - lo) : length - (j - hi)]
            yield old * (1 - r) + piece[..., lo - a : hi - a] * r
        if e > j:
            yield piece[..., max(a, j) - a :]
