"""Reconstruction quality of an autoencoder: SI-SDR, multi-resolution STFT and mel distances,
per channel (left, right) and mid/side, on held-out clips; a spectrogram comparison plot."""

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


@torch.inference_mode()
def reconstruct(ae: torch.nn.Module, wav: torch.Tensor, bf16: bool = True) -> torch.Tensor:
    """Encode then decode (B, 2, L) in chunks -> (B, 2, L)."""
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
    return out


def evaluate_autoencoder(
    model_dir: str | Path,
    files: list[Path],
    *,
    seconds: float | None = 10.0,
    png: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Mean metrics over ``files`` (each cropped to ``seconds``) and speed; optional PNG."""
    from tqdm import tqdm

    from jen1.audio import load_audio
    from jen1.data.latents import load_autoencoder

    if not files:
        raise Jen1Error("no audio files to evaluate")
    cfg, ae = load_autoencoder(model_dir)
    per_clip = []
    audio_s, wall = 0.0, 0.0
    first = None
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
        m["file"] = str(f)
        per_clip.append(m)
        if first is None:
            first = (wav[0], est[0], str(f))
    keys = [k for k in per_clip[0] if k != "file"]
    mean = {k: float(np.mean([c[k] for c in per_clip if k in c])) for k in keys}
    result = {
        "model": str(model_dir),
        "clips": len(per_clip),
        "audio_seconds": audio_s,
        "x_realtime_encode_decode": audio_s / max(wall, 1e-9),
        "mean": mean,
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

    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for ax, wav, name in zip(axes, (ref, est), ("input", "reconstruction")):
        mid = wav.mean(0).numpy()
        ax.specgram(mid, NFFT=2048, Fs=48000, noverlap=1536, cmap="magma", vmin=-120)
        ax.set_title(f"{name} {title}")
        ax.set_xlabel("seconds")
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
    rows.append(
        f"clips {result['clips']}, {result['audio_seconds']:.0f} s of audio, encode+decode "
        f"{result['x_realtime_encode_decode']:.1f}x real time"
    )
    return "\n".join(rows)


def write_json(result: dict[str, Any], path: Path) -> None:
    from jen1.fsutil import atomic_write_text

    atomic_write_text(path, json.dumps(result, indent=1))
