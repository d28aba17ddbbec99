"""``jen1 info``: versions, threads, bf16 support, weight packing, default model, text encoders."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="show versions, hardware, the default model and available text encoders",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def collect() -> dict[str, object]:
    import platform

    import torch

    from jen1 import __version__
    from jen1.conditioning.text import available_encoders
    from jen1.diffusion.packing import packing_supported
    from jen1.paths import default_model_dir
    from jen1.precision import native_bf16
    from jen1.student import has_student

    model_dir = default_model_dir()
    bf16 = native_bf16("cpu")
    return {
        "jen1": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "cpu_bf16": bf16,
        # the U-Net's weights prepacked for oneDNN on the CPU, in the precision "auto" picks
        "cpu_packed_weights": packing_supported(torch.bfloat16 if bf16 else torch.float32),
        "default_model": str(model_dir),
        "default_model_present": (model_dir / "model.safetensors").exists(),
        "default_model_fast": has_student(model_dir),  # a few-step student for --fast
        "text_encoders": available_encoders(),
    }


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for k, v in info.items():
        if isinstance(v, dict):
            print(f"{k}:")
            for kk, vv in v.items():
                print(f"  {kk:<10} {vv}")
        else:
            print(f"{k:<22} {v}")
    return 0
