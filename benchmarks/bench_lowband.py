"""How much of a corpus' energy an exactly coded low band holds, and the SI-SDR that buys.

For each low band (MDCT coefficients of mid and side, as ``autoencoder.lowband_mid/side`` code
them at hop 960), over clips evenly spaced in a corpus' test split: the share p of the clip's
energy inside the band, the SI-SDR of the low band alone, and the SI-SDR a codec would score that
returned the low band exactly and the rest at the right level with a random phase,
10 log10(p^2 / (1 - p^2)). Prints a table; ``--json`` writes it.

    python benchmarks/bench_lowband.py --data /work/data/real --n 48 --json lowband.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

BANDS = ((16, 4), (24, 8), (32, 8), (48, 16), (64, 16))


def measure(
    clips: list[torch.Tensor], bands: tuple[tuple[int, int], ...] = BANDS, hop: int = 960
) -> list[dict[str, float]]:
    """One row per (mid, side): medians over ``clips`` ((1, 2, L) each, L a multiple of hop)."""
    from jen1.autoencoder.losses import si_sdr
    from jen1.autoencoder.lowband import LowbandCodec

    rows = []
    inner = slice(hop, -hop)  # the clip's ends lack the frames that cancel the MDCT's aliasing
    for mid, side in bands:
        codec = LowbandCodec(hop, mid, side)
        share, alone, bound = [], [], []
        for wav in clips:
            low = codec.decode(codec.encode(wav))
            p = float(low[..., inner].pow(2).sum() / wav[..., inner].pow(2).sum().clamp_min(1e-12))
            share.append(p)
            alone.append(float(si_sdr(wav[..., inner], low[..., inner])[0]))
            bound.append(10 * np.log10(p**2 / max(1e-9, 1 - p**2)))
        rows.append(
            {
                "mid_hz": mid * 24000 / hop,
                "side_hz": side * 24000 / hop,
                "channels": mid + side,
                "energy_share_median": float(np.median(share)),
                "si_sdr_low_band_alone_median": float(np.median(alone)),
                "si_sdr_bound_median": float(np.median(bound)),
                "clips_bound_above_0db": float(np.mean(np.array(bound) >= 0)),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="corpus folder (its test split)")
    p.add_argument("--n", type=int, default=48, help="clips, evenly spaced over the split")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    from jen1.audio import load_audio
    from jen1.commands.evaluate import _files

    files = _files(args.data, "test", args.n)
    clips = []
    for f in files:
        wav = torch.as_tensor(load_audio(f))[None, :, : int(args.seconds * 48000)]
        n = wav.shape[-1] // 960 * 960
        if n >= 4 * 960 and wav.pow(2).mean() > 1e-8:
            clips.append(wav[..., :n].float())
    rows = measure(clips)
    print(f"{len(clips)} clips of {args.data} (test split)")
    print(f"{'mid Hz':>7} {'side Hz':>8} {'ch':>4} {'energy':>7} {'low only dB':>12} "
          f"{'bound dB':>9} {'>= 0 dB':>8}")  # fmt: skip
    for r in rows:
        print(
            f"{r['mid_hz']:7.0f} {r['side_hz']:8.0f} {r['channels']:4d} "
            f"{r['energy_share_median']:7.2f} {r['si_sdr_low_band_alone_median']:12.2f} "
            f"{r['si_sdr_bound_median']:9.2f} {r['clips_bound_above_0db']:8.0%}"
        )
    if args.json:
        out = {"data": str(args.data), "clips": len(clips), "rows": rows}
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
