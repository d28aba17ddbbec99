"""Reconstruction quality of an autoencoder: SI-SDR, multi-resolution STFT and mel distances,
per channel (left, right) and mid/side, on held-out clips; stereo width error, energy kept above
8 kHz and the level dip of a crossfade between input and reconstruction; Opus reference rows
measured on the same clips; a spectrogram comparison plot."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jen1.errors import Jen1Error

VIEWS = ("left", "right", "mid", "side")
# The largest STFT window of the metrics: shorter clips cannot be measured (reflect padding).
MIN_SAMPLES = 2048


def _views(wav: torch.Tensor) -> dict[str, torch.Tensor]:
    """(B, 2, L) -> {view: (B, 2, L)} with the view duplicated on both channels (the metric
    functions take stereo)."""
    left, right = wav[:, :1], wav[:, 1:2]
    mid, side = (left + right) / 2, (left - right) / 2
    return {k: v.repeat(1, 2, 1) for k, v in zip(VIEWS, (left, right, mid, side))}


HF_CUTOFF_HZ = 8000.0
SPLICE_FADE_SECONDS = 0.05  # the pipeline's default splice crossfade


def lr_correlation(wav: torch.Tensor) -> float:
    """Pearson correlation of left and right of (1, 2, L) or (2, L): 1 mono, ~0 wide."""
    x = wav.reshape(2, -1).double()
    x = x - x.mean(dim=1, keepdim=True)
    den = float(x.pow(2).sum(dim=1).prod().sqrt())
    return float((x[0] * x[1]).sum()) / den if den > 0 else 1.0


def hf_energy_ratio(ref: torch.Tensor, est: torch.Tensor, cutoff: float = HF_CUTOFF_HZ) -> float:
    """Energy of ``est`` above ``cutoff`` Hz over that of ``ref`` (1 = kept; both channels).

    NaN when ``ref`` has next to nothing up there (under 1e-5 of its energy, e.g. a 22 kHz
    source upsampled): a ratio of two near-zeros says nothing about the codec.
    """

    def energies(w: torch.Tensor) -> tuple[float, float]:
        spec = torch.fft.rfft(w.reshape(2, -1).double(), dim=-1).abs().pow(2)
        freqs = torch.fft.rfftfreq(w.shape[-1], 1 / 48000)
        return float(spec[:, freqs >= cutoff].sum()), float(spec.sum())

    (hf_ref, all_ref), (hf_est, _) = energies(ref), energies(est)
    return hf_est / hf_ref if hf_ref > 1e-5 * all_ref and hf_ref > 0 else float("nan")


FLATNESS_BAND_HZ = (1500.0, 8000.0)  # above the hybrid codec's exact low band
MEDIAN_KEYS = ("hf_ratio", "flatness_db")  # summarised over clips by the median


def _band_power(wav: torch.Tensor, band: tuple[float, float], n_fft: int = 4096) -> torch.Tensor:
    """Power spectrogram of the mid signal of (1, 2, L) within ``band`` Hz: (bins, frames)."""
    mid = wav.reshape(2, -1).double().mean(0)
    window = torch.hann_window(n_fft, dtype=torch.float64)
    spec = torch.stft(mid, n_fft, n_fft // 4, window=window, return_complex=True)
    freqs = torch.fft.rfftfreq(n_fft, 1 / 48000)
    return spec[(freqs >= band[0]) & (freqs < band[1])].abs().square()


def flatness_db(
    ref: torch.Tensor, est: torch.Tensor, band: tuple[float, float] = FLATNESS_BAND_HZ
) -> float:
    """How much noisier ``est`` is than ``ref`` in ``band``: 10 log10 of the ratio of their
    spectral flatness (geometric over arithmetic mean of the power in the band, per 4096-point
    frame of the mid signal), the median over the frames where ``ref`` has energy in the band.
    0 dB: as tonal as the input; a codec that turns harmonics into a smooth texture scores
    several dB; NaN when the input has nothing there.
    """
    p_ref, p_est = _band_power(ref, band) + 1e-20, _band_power(est, band) + 1e-20
    level = p_ref.sum(0)
    keep = level > 1e-4 * level.max()
    if float(level.max()) < 1e-12 or not bool(keep.any()):
        return float("nan")

    def flatness(p: torch.Tensor) -> torch.Tensor:
        return p.log().mean(0).exp() / p.mean(0)

    return float(10 * torch.log10(flatness(p_est[:, keep]) / flatness(p_ref[:, keep])).median())


def splice_dip_db(
    ref: torch.Tensor,
    est: torch.Tensor,
    fade_seconds: float = SPLICE_FADE_SECONDS,
    every_seconds: float = 0.5,
) -> float:
    """Median level dip (dB) of crossfades from the input into its reconstruction.

    At splice points every ``every_seconds``, ``ref`` fades linearly into ``est`` over
    ``fade_seconds``; the dip is ``20 log10(rms(ref) / rms(crossfade))`` over the fade. A
    reconstruction in phase with its input gives 0 dB; one with unrelated phase about 2 dB
    (the two halves add as powers, not amplitudes).
    """
    r, e = ref.reshape(2, -1).double(), est.reshape(2, -1).double()
    n = round(fade_seconds * 48000)
    w = torch.linspace(0, 1, n, dtype=torch.float64)
    dips = []
    for a in range(n, r.shape[-1] - 2 * n, round(every_seconds * 48000)):
        seg_r, seg_e = r[:, a : a + n], e[:, a : a + n]
        rms_ref = float(seg_r.pow(2).mean().sqrt())
        if rms_ref < 1e-4:  # silence: no level to lose
            continue
        rms_x = float((seg_r * (1 - w) + seg_e * w).pow(2).mean().sqrt())
        dips.append(20 * np.log10(rms_ref / max(rms_x, 1e-9)))
    return float(np.median(dips)) if dips else float("nan")


@torch.inference_mode()
def reconstruct(ae: torch.nn.Module, wav: torch.Tensor, bf16: bool | None = None) -> torch.Tensor:
    """Encode then decode (B, 2, L) in chunks -> (B, 2, L); bf16 by default where native."""
    if bf16 is None:
        from jen1.precision import resolve_bf16

        bf16 = resolve_bf16("auto", wav.device)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        z = ae.encode_chunked(wav)
        out = ae.decode_chunked(z, length=wav.shape[-1])
    return out.float()


def clip_metrics(ref: torch.Tensor, est: torch.Tensor) -> dict[str, float]:
    """All metrics of one (1, 2, L) pair, keyed ``metric/view`` plus stereo totals."""
    from jen1.autoencoder.losses import mel_distance, mrstft_distance, si_sdr

    out: dict[str, float] = {}
    refs, ests = _views(ref), _views(est)
    for v in VIEWS:
        if v == "side" and float(refs[v].abs().max()) < 1e-4:
            continue  # (near-)mono material has no side signal to measure
        out[f"si_sdr/{v}"] = float(si_sdr(refs[v], ests[v])[0])
        out[f"mrstft/{v}"] = float(mrstft_distance(refs[v], ests[v])[0])
        out[f"mel/{v}"] = float(mel_distance(refs[v], ests[v])[0])
    out["si_sdr/stereo"] = float(si_sdr(ref, est)[0])
    out["mrstft/stereo"] = float(mrstft_distance(ref, est)[0])
    out["mel/stereo"] = float(mel_distance(ref, est)[0])
    out["width_error"] = abs(lr_correlation(est) - lr_correlation(ref))
    out["hf_ratio"] = hf_energy_ratio(ref, est)
    out["splice_dip_db"] = splice_dip_db(ref, est)
    out["flatness_db"] = flatness_db(ref, est)
    return out


@torch.no_grad()
def posterior_snr_db(ae: torch.nn.Module, wav: torch.Tensor) -> np.ndarray:
    """Per latent channel: how far the posterior mean moves over time against the posterior
    noise, 10 log10(var_t(mean) / mean_t(var)), in dB. (1, 2, L) -> (C,).

    A channel below 0 dB carries less signal than the noise the decoder was trained to see in
    it: a latent whose channels mostly sit there has collapsed towards the prior (the KL term
    winning over the reconstruction). The learnt channels only: a hybrid codec's low-band
    channels (the first ones) are coefficients with a fixed noise, not a posterior.
    """
    mean, logvar = ae.encode_dist(wav)
    low = getattr(getattr(ae, "cfg", None), "lowband_channels", 0)
    mean, logvar = mean[:, low:], logvar[:, low:]
    signal = mean.float().var(dim=-1)[0]
    noise = logvar.float().exp().mean(dim=-1)[0]
    return (10 * torch.log10(signal.clamp_min(1e-12) / noise.clamp_min(1e-12))).numpy()


def _mean(clips: list[dict[str, Any]]) -> dict[str, float]:
    """Means over clips; the medians of the high-frequency ratio and the flatness (one bright
    clip over a dark original, or one pure tone, would otherwise decide the row)."""
    keys = [k for k in clips[0] if k != "file"]
    out = {}
    for k in keys:
        vals = [c[k] for c in clips if k in c]
        if all(np.isnan(vals)):
            out[k] = float("nan")
        else:
            out[k] = float((np.nanmedian if k in MEDIAN_KEYS else np.nanmean)(vals))
    return out


def evaluate_autoencoder(
    model_dir: str | Path,
    files: list[Path],
    *,
    seconds: float | None = 10.0,
    png: Path | None = None,
    progress: bool = True,
    opus: tuple[float, ...] = (),
    fad: bool = False,
) -> dict[str, Any]:
    """Mean metrics over ``files`` (each cropped to ``seconds``) and speed; optional PNG.

    ``opus``: bitrates (kbit/s) of Opus reference rows, measured on the same clips (ffmpeg).
    The result's ``rows`` holds the mean metrics of ``"model"`` and of each ``"opus N"``;
    ``mean`` is the model's row. ``fad``: each row also gets ``fad``, the FAD-musicnn between
    the clips and that row's reconstructions of them (musicnn patches every second, as
    ``jen1 eval generation`` measures its reconstruction ceiling).
    """
    from tqdm import tqdm

    from jen1.audio import load_audio
    from jen1.eval.opus import _ffmpeg, opus_roundtrip
    from jen1.models import load_autoencoder

    if not files:
        raise Jen1Error("no audio files to evaluate")
    if opus:
        _ffmpeg()  # refuse before the model loads
    tagger = None
    if fad:
        from jen1.eval.musicnn import MusicnnMTT

        tagger = MusicnnMTT.from_package()  # refuse before the model loads, too
    feats: dict[str, list[np.ndarray]] = {
        "input": [],
        "model": [],
        **{f"opus {k:g}": [] for k in opus},
    }

    def embed(name: str, w: torch.Tensor) -> None:
        if tagger is not None:
            e = tagger.embed(w[0].numpy()[None], cfg.autoencoder.sample_rate, hop_seconds=1.0)
            feats[name].append(e["penultimate"][0])

    cfg, ae = load_autoencoder(model_dir)
    per_clip: list[dict[str, Any]] = []
    refs: dict[str, list[dict[str, Any]]] = {f"opus {k:g}": [] for k in opus}
    audio_s, wall = 0.0, 0.0
    first = None
    snr: list[np.ndarray] = []  # per clip: (C,) posterior SNR in dB
    for f in tqdm(files, desc="eval autoencoder", unit="clip", disable=not progress):
        wav = torch.from_numpy(load_audio(f))
        if seconds:
            wav = wav[:, : round(seconds * cfg.autoencoder.sample_rate)]
        wav = wav[None]
        t0 = time.perf_counter()
        est = reconstruct(ae, wav)
        wall += time.perf_counter() - t0
        audio_s += wav.shape[-1] / cfg.autoencoder.sample_rate
        m = clip_metrics(wav, est)
        snr.append(posterior_snr_db(ae, wav))
        m["file"] = str(f)
        per_clip.append(m)
        embed("input", wav)
        embed("model", est)
        for k in opus:
            ref_est = torch.from_numpy(opus_roundtrip(wav[0].numpy(), k))[None]
            refs[f"opus {k:g}"].append(clip_metrics(wav, ref_est))
            embed(f"opus {k:g}", ref_est)
        if first is None:
            first = (wav[0], est[0], str(f))
    rows = {"model": _mean(per_clip), **{name: _mean(c) for name, c in refs.items()}}
    if tagger is not None:
        from jen1.eval.fad import fad as frechet

        ref_feats = np.concatenate(feats["input"], axis=0)
        for name in rows:
            rows[name]["fad"] = frechet(np.concatenate(feats[name], axis=0), ref_feats)
    result = {
        "model": str(model_dir),
        "clips": len(per_clip),
        "audio_seconds": audio_s,
        "x_realtime_encode_decode": audio_s / max(wall, 1e-9),
        "mean": rows["model"],
        "rows": rows,
        "latent": {
            "posterior_snr_db_median": float(np.median(np.stack(snr))),
            "channels_above_0db": float((np.stack(snr).mean(0) > 0).mean()),
            "channels": int(snr[0].shape[0]),
        },
        "per_clip": per_clip,
    }
    if png is not None and first is not None:
        plot_spectrograms(first[0], first[1], png, title=Path(first[2]).name)
        result["png"] = str(png)
    return result


def plot_spectrograms(ref: torch.Tensor, est: torch.Tensor, path: Path, title: str = "") -> None:
    """Input and reconstruction log spectrograms (mid channel) side by side, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jen1.eval.spectrogram import draw_specgram

    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for ax, wav, name in zip(axes, (ref, est), ("input", "reconstruction")):
        draw_specgram(ax, wav.mean(0).numpy(), 48000)
        ax.set_title(name)
        ax.set_xlabel("seconds")
    if title:  # once above both: corpus file names are long enough to run into each other
        fig.suptitle(title if len(title) <= 100 else "..." + title[-97:], fontsize=9)
    axes[0].set_ylabel("Hz")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def format_table(result: dict[str, Any]) -> str:
    mean = result["mean"]
    rows = ["view     SI-SDR dB   MR-STFT    mel L1"]
    for v in (*VIEWS, "stereo"):
        if f"si_sdr/{v}" in mean:
            rows.append(
                f"{v:<8} {mean[f'si_sdr/{v}']:9.2f} {mean[f'mrstft/{v}']:9.3f} "
                f"{mean[f'mel/{v}']:9.3f}"
            )
    rows.append("")
    with_fad = "fad" in mean
    rows.append(
        "row          mel L1  MR-STFT  SI-SDR dB  width err  HF>8k (med)  splice dip dB"
        + "  flatness dB"
        + ("   FAD" if with_fad else "")
    )
    for name, m in result.get("rows", {"model": mean}).items():
        rows.append(
            f"{name:<12} {m['mel/stereo']:6.3f} {m['mrstft/stereo']:8.3f} "
            f"{m['si_sdr/stereo']:10.2f} {m['width_error']:10.3f} {m['hf_ratio']:12.2f} "
            f"{m['splice_dip_db']:14.2f} {m.get('flatness_db', float('nan')):12.2f}"
            + (f" {m['fad']:6.2f}" if with_fad else "")
        )
    if "latent" in result:
        lat = result["latent"]
        rows.append(
            f"latent: posterior SNR median {lat['posterior_snr_db_median']:.1f} dB, "
            f"{lat['channels_above_0db']:.0%} of {lat['channels']} channels above 0 dB"
        )
    rows.append(
        f"clips {result['clips']}, {result['audio_seconds']:.0f} s of audio, encode+decode "
        f"{result['x_realtime_encode_decode']:.1f}x real time"
    )
    return "\n".join(rows)


def write_json(result: dict[str, Any], path: Path) -> None:
    from jen1.fsutil import atomic_write_text

    atomic_write_text(path, json.dumps(result, indent=1))
