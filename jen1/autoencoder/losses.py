"""Autoencoder losses and audio distances.

Reconstruction: multi-resolution STFT (spectral convergence + log-magnitude L1), log-mel L1 and
time-domain L1. Bottleneck: KL to N(0, I). Adversarial: hinge losses and feature matching over the
outputs of :class:`jen1.autoencoder.discriminators.MultiScaleSTFTDiscriminator`.

Every spectral quantity is computed in float32 with autocast disabled, so the losses are stable
under ``torch.autocast("cpu", dtype=torch.bfloat16)``. Stereo channels are treated as separate
signals. Scalar losses are means; the ``*_distance`` / :func:`si_sdr` metrics return one value per
batch item (B,).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from jen1.config import AutoencoderLossConfig

Outputs = list[tuple[Tensor, list[Tensor]]]  # discriminator output: [(logits, features), ...]

_EPS = 1e-7


def _fp32(fn):
    """Run ``fn`` with autocast disabled and its tensor arguments cast to float32."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        dev = next(a.device.type for a in args if isinstance(a, Tensor))
        args = tuple(a.float() if isinstance(a, Tensor) else a for a in args)
        with torch.autocast(dev, enabled=False):
            return fn(*args, **kwargs)

    return wrapper


# --- spectra ------------------------------------------------------------------------------


# Cached tensors are built outside inference mode: one built under ``torch.inference_mode``
# (an evaluation first) could not be saved for backward by training in the same process.


@functools.lru_cache(maxsize=32)
def _hann(n_fft: int) -> Tensor:
    with torch.inference_mode(False):
        return torch.hann_window(n_fft)


def stft_magnitude(wav: Tensor, n_fft: int, hop: int | None = None) -> Tensor:
    """Magnitude spectrogram in float32 (autocast off).

    Args:
        wav: (B, 2, L) (any number of channels).
        n_fft: window and FFT size (Hann window); hop defaults to n_fft // 4.

    Returns:
        (B, 2, F, N) magnitudes, F = n_fft // 2 + 1.
    """
    with torch.autocast(wav.device.type, enabled=False):
        return stft_complex(wav, n_fft, hop).abs()


def stft_complex(wav: Tensor, n_fft: int, hop: int | None = None) -> Tensor:
    """Complex spectrogram in float32 (autocast off): (B, C, L) -> (B, C, n_fft // 2 + 1, N).

    Hann window, hop ``n_fft // 4`` by default, centred frames.
    """
    hop = hop or n_fft // 4
    b = wav.shape[0]
    with torch.autocast(wav.device.type, enabled=False):
        x = rearrange(wav.float(), "b c l -> (b c) l")
        spec = torch.stft(
            x,
            n_fft,
            hop_length=hop,
            window=_hann(n_fft).to(x.device),
            center=True,
            return_complex=True,
        )
    return rearrange(spec, "(b c) f n -> b c f n", b=b)


def _log_clamped(x: Tensor, floor: float) -> Tensor:
    return torch.log(x.clamp_min(floor))


def _stft_terms(mag_ref: Tensor, mag_est: Tensor) -> tuple[Tensor, Tensor]:
    """Per-item spectral convergence and log-magnitude L1, each (B,)."""
    sc = torch.linalg.vector_norm(mag_ref - mag_est, dim=(1, 2, 3)) / (
        torch.linalg.vector_norm(mag_ref, dim=(1, 2, 3)) + _EPS
    )
    log_l1 = (_log_clamped(mag_ref, 1e-5) - _log_clamped(mag_est, 1e-5)).abs().mean(dim=(1, 2, 3))
    return sc, log_l1


@_fp32
def mrstft_distance(
    ref: Tensor, est: Tensor, windows: tuple[int, ...] = (2048, 1024, 512, 256, 128)
) -> Tensor:
    """Multi-resolution STFT distance (spectral convergence + log-magnitude L1), averaged over
    windows. (B, 2, L), (B, 2, L) -> (B,) float32."""
    total = ref.new_zeros(ref.shape[0], dtype=torch.float32)
    for n_fft in windows:
        sc, log_l1 = _stft_terms(stft_magnitude(ref, n_fft), stft_magnitude(est, n_fft))
        total = total + sc + log_l1
    return total / len(windows)


class MultiResolutionSTFTLoss(torch.nn.Module):
    """Mean over windows and items of spectral convergence + log-magnitude L1 (scalar)."""

    def __init__(self, windows: tuple[int, ...] = (2048, 1024, 512, 256, 128)) -> None:
        super().__init__()
        self.windows = tuple(windows)

    def forward(self, ref: Tensor, est: Tensor) -> Tensor:
        """(B, 2, L), (B, 2, L) -> scalar."""
        return mrstft_distance(ref, est, self.windows).mean()


# --- mel ------------------------------------------------------------------------------------


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa ``htk=False``): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    log_part = min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log_part, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@functools.lru_cache(maxsize=32)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> Tensor:
    """Slaney-normalised triangular mel filterbank (as ``librosa.filters.mel``), (n_mels, F)."""
    fft_freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    mel_pts = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    fdiff = np.diff(mel_pts)
    ramps = mel_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_pts[2 : n_mels + 2] - mel_pts[:n_mels]))[:, None]
    with torch.inference_mode(False):
        return torch.from_numpy(weights.astype(np.float32))


def mel_windows(loss_cfg: AutoencoderLossConfig) -> tuple[int, ...]:
    """STFT sizes the mel loss uses: the ``stft_windows`` >= 1024, else the largest one."""
    big = tuple(w for w in loss_cfg.stft_windows if w >= 1024)
    return big or (max(loss_cfg.stft_windows),)


def _mel(mag: Tensor, sample_rate: int, n_mels: int) -> Tensor:
    """Frame-major (B, 2, N, F) magnitudes (or powers) -> (B, 2, N, n_mels) mel band sums."""
    n_fft = 2 * (mag.shape[-1] - 1)
    fb = mel_filterbank(sample_rate, n_fft, n_mels).to(mag.device)
    return torch.einsum("mf,bcnf->bcnm", fb, mag)


def _log_mel(mag: Tensor, sample_rate: int, n_mels: int, floor: float = 1e-5) -> Tensor:
    """Frame-major (B, 2, N, F) magnitudes -> (B, 2, N, n_mels) log10 mel sums."""
    return torch.log10(_mel(mag, sample_rate, n_mels).clamp_min(floor))


@_fp32
def mel_distance(
    ref: Tensor,
    est: Tensor,
    sample_rate: int = 48000,
    n_mels: int = 80,
    windows: tuple[int, ...] = (2048, 1024),
) -> Tensor:
    """Log-mel L1 distance averaged over STFT sizes. (B, 2, L), (B, 2, L) -> (B,) float32."""
    total = ref.new_zeros(ref.shape[0], dtype=torch.float32)
    for n_fft in windows:
        lr = _log_mel(stft_magnitude(ref, n_fft).transpose(-1, -2), sample_rate, n_mels)
        le = _log_mel(stft_magnitude(est, n_fft).transpose(-1, -2), sample_rate, n_mels)
        total = total + (lr - le).abs().mean(dim=(1, 2, 3))
    return total / len(windows)


# --- waveform metrics -----------------------------------------------------------------------


@_fp32
def si_sdr(ref: Tensor, est: Tensor) -> Tensor:
    """Scale-invariant SDR in dB over all channels and samples. (B, 2, L), (B, 2, L) -> (B,)."""
    r = rearrange(ref, "b c l -> b (c l)")
    e = rearrange(est, "b c l -> b (c l)")
    r = r - r.mean(dim=1, keepdim=True)
    e = e - e.mean(dim=1, keepdim=True)
    scale = (e * r).sum(1, keepdim=True) / (r.pow(2).sum(1, keepdim=True) + _EPS)
    target = scale * r
    noise = e - target
    return 10 * torch.log10((target.pow(2).sum(1) + _EPS) / (noise.pow(2).sum(1) + _EPS))


# --- training losses ------------------------------------------------------------------------


def magnitude_scale(loss_cfg: AutoencoderLossConfig, step: int) -> float:
    """The factor on the magnitude terms' weights at ``step`` (``loss_cfg.magnitude_ramp``)."""
    return ramp_scale(loss_cfg.magnitude_ramp, step)


def kl_scale(loss_cfg: AutoencoderLossConfig, step: int) -> float:
    """The factor on the KL weight at ``step`` (``loss_cfg.kl_ramp``)."""
    return ramp_scale(loss_cfg.kl_ramp, step)


def ramp_scale(ramp: tuple[int, int], step: int) -> float:
    """0 before ``ramp[0]``, rising linearly to 1 at ``ramp[1]``, then 1."""
    start, end = ramp
    if step >= end:
        return 1.0
    if step < start:
        return 0.0
    return (step - start) / (end - start)


@_fp32
def reconstruction_losses(
    wav: Tensor,
    recon: Tensor,
    loss_cfg: AutoencoderLossConfig,
    sample_rate: int = 48000,
    magnitude: float = 1.0,
) -> dict[str, Tensor]:
    """Weighted reconstruction losses, each a scalar.

    Args:
        wav: (B, 2, L) target. recon: (B, 2, L) reconstruction.
        loss_cfg: weights, STFT windows and mel bins.
        magnitude: factor on the magnitude terms' weights (:func:`magnitude_scale`); at 0 they
            are not computed (logged as 0), which leaves a step's spectra to the complex term.

    Returns:
        ``{"stft": w_stft * MR-STFT, "mel": w_mel * log-mel L1, "l1": w_l1 * time L1,
        "mel_power": w * log-mel-power L1 (when ``mel_power_weight`` > 0), "mid_side": w_ms *
        MR-STFT of mid/side (when ``mid_side_weight`` > 0), "recon": their sum}``. STFTs are
        shared between the STFT and mel terms.
    """
    # One complex STFT per window and signal serves every term: the magnitude terms, the mel
    # term, the mid/side terms (the STFT is linear: STFT((L+R)/2) = (STFT(L) + STFT(R)) / 2) and
    # the complex term. Computed term by term, the spectra were 80% of a training step.
    mel_set = set(mel_windows(loss_cfg))
    mid_side = loss_cfg.mid_side_weight > 0 and wav.shape[1] == 2
    complex_set = set(loss_cfg.complex_windows) if loss_cfg.complex_weight > 0 else set()
    mag_windows = loss_cfg.stft_windows if magnitude > 0 else ()
    zero = wav.new_zeros((), dtype=torch.float32)
    stft, mel, mel_pow, band, ms, cplx = zero, zero, zero, zero, zero, zero
    power = loss_cfg.mel_power_weight > 0
    band_window = max(mel_set) if loss_cfg.band_energy_weight > 0 and magnitude > 0 else None
    for n_fft in dict.fromkeys(mag_windows + tuple(sorted(complex_set, reverse=True))):
        # frame-major (B, 2, N, F): the layout torch.stft writes, so every elementwise op and
        # its backward runs on contiguous memory (transposed, they cost up to 2x more)
        spec_r = stft_complex(wav, n_fft).transpose(-1, -2)
        spec_e = stft_complex(recon, n_fft).transpose(-1, -2)
        mag_r, mag_e = spec_r.abs(), spec_e.abs()
        if n_fft in mag_windows:
            sc, log_l1 = _stft_terms(mag_r, mag_e)
            stft = stft + (sc + log_l1).mean()
            if n_fft in mel_set:
                lr = _log_mel(mag_r, sample_rate, loss_cfg.mel_bins)
                le = _log_mel(mag_e, sample_rate, loss_cfg.mel_bins)
                mel = mel + (lr - le).abs().mean()
                if power or n_fft == band_window:  # (B, 2, N, n_mels) mel band powers
                    pr = _mel(mag_r.square(), sample_rate, loss_cfg.mel_bins)
                    pe = _mel(mag_e.square(), sample_rate, loss_cfg.mel_bins)
                    # floor 1e-10: the square of the magnitude terms' 1e-5
                    if power:
                        mel_pow = mel_pow + _log_ratio_l1(pr, pe)
                    if n_fft == band_window:  # the energies of the whole segment
                        band = _log_ratio_l1(pr.sum(-2), pe.sum(-2))
            if mid_side:
                sc, log_l1 = _stft_terms(_mid_side_spec(spec_r).abs(), _mid_side_spec(spec_e).abs())
                ms = ms + (sc + log_l1).mean()
        if n_fft in complex_set:
            d = _compress(spec_r, mag_r) - _compress(spec_e, mag_e)
            cplx = cplx + d.abs().mean()
    l1 = (wav - recon).abs().mean()
    out: dict[str, Tensor] = {
        "stft": magnitude * loss_cfg.stft_weight * stft / len(loss_cfg.stft_windows),
        "mel": magnitude * loss_cfg.mel_weight * mel / len(mel_set),
        "l1": loss_cfg.l1_weight * l1,
    }
    out["recon"] = out["stft"] + out["mel"] + out["l1"]
    if power:
        out["mel_power"] = magnitude * loss_cfg.mel_power_weight * mel_pow / len(mel_set)
        out["recon"] = out["recon"] + out["mel_power"]
    if band_window is not None:
        out["band_energy"] = magnitude * loss_cfg.band_energy_weight * band
        out["recon"] = out["recon"] + out["band_energy"]
    if mid_side:
        out["mid_side"] = magnitude * loss_cfg.mid_side_weight * ms / len(loss_cfg.stft_windows)
        out["recon"] = out["recon"] + out["mid_side"]
    if complex_set:
        out["complex"] = loss_cfg.complex_weight * cplx / len(loss_cfg.complex_windows)
        out["recon"] = out["recon"] + out["complex"]
    return out


def _log_ratio_l1(ref: Tensor, est: Tensor, floor: float = 1e-10) -> Tensor:
    """Mean |log10 ref - log10 est| of two non-negative tensors, each floored (scalar)."""
    return (torch.log10(ref.clamp_min(floor)) - torch.log10(est.clamp_min(floor))).abs().mean()


def _mid_side_spec(spec: Tensor) -> Tensor:
    """(B, 2, F, N) left/right spectra -> mid (L+R)/2 and side (L-R)/2 spectra."""
    left, right = spec[:, :1], spec[:, 1:2]
    return torch.cat([(left + right) / 2, (left - right) / 2], dim=1)


def _compress(spec: Tensor, mag: Tensor | None = None) -> Tensor:
    """Complex spectra with magnitudes raised to 0.3, phase kept (``mag``: ``spec.abs()``)."""
    mag = spec.abs() if mag is None else mag
    return spec * mag.clamp_min(1e-7).pow(-0.7)


def _compressed_stft(wav: Tensor, n_fft: int) -> Tensor:
    """(B, A, L) -> (B, A, F, N) complex STFT with magnitudes raised to 0.3 (phase kept)."""
    return _compress(stft_complex(wav, n_fft))


@_fp32
def complex_stft_distance(ref: Tensor, est: Tensor, n_fft: int = 1024) -> Tensor:
    """Mean |C(ref) - C(est)| of compressed complex spectra (magnitude^0.3, same phase).

    Unlike magnitude distances it grows when the phase is wrong. (B, A, L) x2 -> (B,).
    """
    d = _compressed_stft(ref, n_fft) - _compressed_stft(est, n_fft)
    return d.abs().mean(dim=(1, 2, 3))


def spectrum_loss(wav: Tensor, spec: Tensor, n_fft: int, hop: int) -> Tensor:
    """Mean |C(STFT(wav)) - C(spec)| against a predicted spectrum at the codec's own frames.

    Args:
        wav: (B, A, L) target, right-padded with zeros to the spectrum's N * hop samples.
        spec: (B A, F, N) complex spectrum (the STFT decoder's, before its inverse STFT).

    Returns:
        scalar float32.
    """
    from jen1.autoencoder.stft_codec import stft_same

    with torch.autocast(wav.device.type, enabled=False):
        pad = spec.shape[-1] * hop - wav.shape[-1]
        ref = stft_same(rearrange(F.pad(wav.float(), (0, pad)), "b a l -> (b a) l"), n_fft, hop)
        return (_compress(ref) - _compress(spec)).abs().mean()


def spectrum_log_magnitude_loss(wav: Tensor, spec: Tensor, n_fft: int, hop: int) -> Tensor:
    """Mean |log|STFT(wav)| - log|spec|| (floor 1e-5) at the codec's own frames.

    Args, shapes and padding as :func:`spectrum_loss`. Returns a scalar float32.
    """
    from jen1.autoencoder.stft_codec import stft_same

    with torch.autocast(wav.device.type, enabled=False):
        pad = spec.shape[-1] * hop - wav.shape[-1]
        ref = stft_same(rearrange(F.pad(wav.float(), (0, pad)), "b a l -> (b a) l"), n_fft, hop)
        return (_log_clamped(ref.abs(), 1e-5) - _log_clamped(spec.abs(), 1e-5)).abs().mean()


def to_mid_side(wav: Tensor) -> Tensor:
    """(B, 2, L) left/right -> (B, 2, L) mid (L+R)/2 and side (L-R)/2."""
    left, right = wav[:, :1], wav[:, 1:2]
    return torch.cat([(left + right) / 2, (left - right) / 2], dim=1)


def kl_loss(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)), summed over channels, mean over B and T (scalar)."""
    mean, logvar = mean.float(), logvar.float()
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()


@torch.no_grad()
def posterior_health(mean: Tensor, logvar: Tensor, wav: Tensor, recon: Tensor) -> dict[str, Tensor]:
    """Signs of posterior collapse and of a silent decoder, for the training logs.

    ``post_var``: the posterior variance (mean of ``exp(logvar)``); ``latent_snr_db``: the spread
    of the posterior means against it (below 0 dB the decoder sees mostly sampling noise);
    ``out_in_energy``: the reconstruction's energy over the input's (near 0: silence).
    mean, logvar: (B, C, T); wav, recon: (B, A, L).
    """
    post_var = logvar.float().exp().mean()
    spread = mean.float().var()
    snr = 10 * torch.log10(spread.clamp_min(1e-12) / post_var.clamp_min(1e-12))
    energy = recon.float().pow(2).mean() / wav.float().pow(2).mean().clamp_min(1e-12)
    return {"post_var": post_var, "latent_snr_db": snr, "out_in_energy": energy}


def discriminator_loss(real_outs: Outputs, fake_outs: Outputs) -> Tensor:
    """Hinge loss ``relu(1 - D(x)) + relu(1 + D(G(z)))``, averaged over discriminators.

    Pass ``fake_outs`` computed on ``recon.detach()``.
    """
    total = torch.zeros((), device=real_outs[0][0].device)
    for (lr, _), (lf, _) in zip(real_outs, fake_outs):
        total = total + F.relu(1 - lr.float()).mean() + F.relu(1 + lf.float()).mean()
    return total / len(real_outs)


def generator_adv_loss(fake_outs: Outputs) -> Tensor:
    """Generator hinge loss ``relu(1 - D(G(z)))`` (EnCodec), averaged over discriminators."""
    total = torch.zeros((), device=fake_outs[0][0].device)
    for lf, _ in fake_outs:
        total = total + F.relu(1 - lf.float()).mean()
    return total / len(fake_outs)


def feature_matching_loss(real_outs: Outputs, fake_outs: Outputs) -> Tensor:
    """L1 between discriminator features of real (detached) and fake audio, each layer's L1
    divided by the mean |real feature| (EnCodec), averaged over layers and discriminators."""
    total = torch.zeros((), device=real_outs[0][0].device)
    n = 0
    for (_, fr), (_, ff) in zip(real_outs, fake_outs):
        for a, b in zip(fr, ff):
            a = a.detach().float()
            total = total + (a - b.float()).abs().mean() / (a.abs().mean() + 1e-5)
            n += 1
    return total / max(n, 1)
