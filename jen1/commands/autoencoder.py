"""``jen1 reconstruct IN.wav -o OUT.wav``: hear what the autoencoder keeps."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconstruct",
        help="encode then decode a file with the autoencoder",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("input", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="output WAV path")
    p.add_argument(
        "--model", type=Path, default=None, help="model directory (default: shipped model)"
    )
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from jen1.audio import load_audio, save_audio
    from jen1.errors import AudioError
    from jen1.eval.autoencoder import MIN_SAMPLES, clip_metrics, reconstruct
    from jen1.fsutil import check_output_path
    from jen1.models import load_autoencoder
    from jen1.paths import default_model_dir

    check_output_path(args.output, overwrite=args.overwrite)
    wav = torch.from_numpy(load_audio(args.input))[None]
    if wav.shape[-1] < MIN_SAMPLES:
        raise AudioError(
            f"{args.input} is {wav.shape[-1]} samples long; reconstruct needs at least "
            f"{MIN_SAMPLES} ({MIN_SAMPLES / 48000:.3f} s at 48 kHz)"
        )
    _, ae = load_autoencoder(args.model or default_model_dir())
    est = reconstruct(ae, wav)
    save_audio(args.output, est[0], overwrite=args.overwrite)
    m = clip_metrics(wav, est)
    print(
        f"wrote {args.output}; SI-SDR {m['si_sdr/stereo']:.2f} dB, "
        f"MR-STFT {m['mrstft/stereo']:.3f}, "
        f"mel {m['mel/stereo']:.3f}"
    )
    return 0
