"""Warm-start an STFT autoencoder with the vector phase head from one with the scalar head.

Every weight is copied except the decoder head's phase rows, which start fresh (the log-magnitude
rows are kept), so training resumes from the old model's encoder and body instead of from
scratch. The result is a model directory for ``jen1 train autoencoder --init``.

Usage: python scripts/phase_head_warm_start.py SRC_MODEL_DIR DST_MODEL_DIR
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch


def main(src: str, dst: str) -> None:
    from jen1.checkpoint import load_model_dir, save_model_dir
    from jen1.models import build_autoencoder

    if Path(dst).exists():
        raise SystemExit(f"{dst} exists: choose a new directory")
    cfg, state = load_model_dir(src, ("autoencoder",))
    old = state["autoencoder"]
    if cfg.autoencoder.arch != "stft" or cfg.autoencoder.stft_phase != "scalar":
        raise SystemExit(f"{src} is not an STFT autoencoder with the scalar phase head")
    cfg = dataclasses.replace(
        cfg, autoencoder=dataclasses.replace(cfg.autoencoder, stft_phase="vector")
    )
    torch.manual_seed(0)
    ae = build_autoencoder(cfg.autoencoder)
    new = ae.state_dict()
    a = cfg.autoencoder.audio_channels
    for k, v in old.items():
        if k in ("decoder.head.weight", "decoder.head.bias"):
            # (A * 2 * F, ...) -> (A * 3 * F, ...): row 0 of each channel is the log-magnitude
            o = v.float().reshape(a, 2, -1, *v.shape[1:])
            n = new[k].reshape(a, 3, -1, *v.shape[1:]).clone()
            n[:, 0] = o[:, 0]
            new[k] = n.reshape(new[k].shape)
        else:
            new[k] = v.float()
    ae.load_state_dict(new, strict=True)
    save_model_dir(dst, cfg, {"autoencoder": ae.state_dict()})
    print(f"wrote {dst}: {src} with the vector phase head (phase rows fresh)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
