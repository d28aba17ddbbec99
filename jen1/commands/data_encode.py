"""``jen1 data encode DATA_DIR --autoencoder MODEL_DIR``: the latent cache for diffusion."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(data_sub: argparse._SubParsersAction) -> None:
    e = data_sub.add_parser(
        "encode",
        help="encode every clip once with a trained autoencoder (latent cache)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    e.add_argument("data_dir", type=Path, metavar="DATA_DIR", help="corpus folder (metadata.jsonl)")
    e.add_argument(
        "--autoencoder",
        type=Path,
        required=True,
        metavar="MODEL_DIR",
        help="model directory holding the autoencoder (jen1 export of an AE run)",
    )
    e.add_argument(
        "--out", type=Path, default=None, help="cache folder (default: DATA_DIR/latents)"
    )
    e.add_argument(
        "--config",
        default="small",
        help="config whose text encoder embeds the captions (tiny | small | paper | FILE)",
    )
    e.add_argument(
        "--lowband-view",
        choices=("mdct", "magnitude"),
        default=None,
        help="a hybrid autoencoder's low band as the U-Net will see it: its MDCT coefficients, "
        "or their magnitudes with the phase rebuilt at decoding (default: the autoencoder's)",
    )
    e.add_argument("--overwrite", action="store_true", help="rebuild an existing cache")
    e.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    e.set_defaults(func=run_encode)


def run_encode(args: argparse.Namespace) -> int:
    from jen1.config import load_config
    from jen1.data.latents import build_latent_cache

    cfg = load_config(args.config)
    summary = build_latent_cache(
        args.data_dir,
        args.autoencoder,
        args.out,
        text_cfg=cfg.text,
        progress=args.progress,
        overwrite=args.overwrite,
        lowband_view=args.lowband_view,
    )
    print(json.dumps(summary))
    return 0
