"""``jen1 train autoencoder|diffusion`` and ``jen1 export RUN_DIR MODEL_DIR``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jen1.commands import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = sub.add_parser(
        "train",
        help="train the autoencoder or the diffusion model",
        formatter_class=fmt,
        description=(
            "Train one stage on Lightning Fabric. One CPU: the defaults."
            " One GPU: --accelerator gpu."
            " Several GPUs: --devices N (DDP). Several nodes: launch with torchrun or srun and pass"
            " --num-nodes M --devices N. Stop any time (Ctrl-C / SIGTERM saves a checkpoint);"
            " continue with --resume."
        ),
    )
    p.add_argument("stage", choices=["autoencoder", "diffusion"])
    p.add_argument("--config", default="small", help="tiny | small | paper | path/to/config.json")
    p.add_argument(
        "--data",
        required=True,
        type=Path,
        help="autoencoder: a corpus directory; diffusion: a latent cache (jen1 data encode)",
    )
    p.add_argument("--out", required=True, type=Path, help="run directory (checkpoints, logs)")
    p.add_argument(
        "--max-steps", type=positive_int, default=None, help="default: the config's max_steps"
    )
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this model directory's weights (jen1 export, or the shipped "
        "model): autoencoder, e.g. to fine-tune a decoder with --set "
        "ae_loss.freeze_encoder=true; diffusion, to fine-tune its U-Net on a latent cache "
        "encoded with --autoencoder MODEL_DIR (use --config MODEL_DIR)",
    )
    p.add_argument("--accelerator", default="cpu", help="cpu | gpu | auto")
    p.add_argument("--devices", default="1", help="processes per node (DDP when > 1)")
    p.add_argument("--num-nodes", type=positive_int, default=1)
    p.add_argument("--strategy", default="auto", help="auto | ddp | ...")
    p.add_argument(
        "--precision",
        default=None,
        help="auto | bf16-mixed | 32-true (default: the config's; auto: bf16 where native)",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the trained network (a faster step, but compiling takes minutes: "
        "worth it for long runs only)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, repeatable, e.g. --set train_autoencoder.lr=1e-4",
    )
    p.set_defaults(func=run_train)

    e = sub.add_parser(
        "export", help="write a run's EMA weights as a model directory", formatter_class=fmt
    )
    e.add_argument("run_dir", type=Path)
    e.add_argument("model_dir", type=Path)
    e.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    e.add_argument("--card", type=Path, default=None, help="markdown file to ship as model_card.md")
    e.add_argument(
        "--unet-from",
        type=Path,
        default=None,
        metavar="MODEL_DIR",
        help="autoencoder runs: take the U-Net (and config) from this model directory, e.g. to "
        "ship a decoder fine-tuned with a frozen encoder beside an existing U-Net",
    )
    e.add_argument("--overwrite", action="store_true")
    e.set_defaults(func=run_export)


def run_train(args: argparse.Namespace) -> int:
    from jen1.config import load_config
    from jen1.train.loop import RunOptions, train
    from jen1.train.stages import STAGES

    cfg = load_config(args.config, args.overrides)
    if args.resume:
        from jen1.config import Jen1Config, apply_overrides
        from jen1.train.loop import latest_checkpoint, load_training_checkpoint

        ckpt = latest_checkpoint(args.out)
        if ckpt is not None:  # a resumed run keeps the config it started with (plus overrides)
            cfg = Jen1Config.from_dict(load_training_checkpoint(ckpt)["config"])
            cfg = apply_overrides(cfg, args.overrides)
    kwargs = {"init": args.init} if args.init is not None else {}
    stage = STAGES[args.stage](cfg, args.data, **kwargs)
    args.out.mkdir(parents=True, exist_ok=True)
    devices: int | str = int(args.devices) if str(args.devices).isdigit() else args.devices
    opts = RunOptions(
        run_dir=args.out,
        max_steps=args.max_steps,
        resume=args.resume,
        accelerator=args.accelerator,
        devices=devices,
        num_nodes=args.num_nodes,
        strategy=args.strategy,
        precision=args.precision,
        progress=args.progress,
        compile=args.compile,
    )
    result = train(stage, opts)
    if result["rank"] == 0:
        how = "stopped by signal" if result["stopped_by_signal"] else "done"
        print(f"{how} at step {result['step']}; checkpoint {result['checkpoint']}")
        if result["stopped_by_signal"]:
            print(f"resume with: jen1 train {args.stage} --resume --out {args.out} ...")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from jen1.train.export import export_model

    card = args.card.read_text() if args.card else None
    summary = export_model(
        args.run_dir,
        args.model_dir,
        dtype=args.dtype,
        card=card,
        unet_from=args.unet_from,
        overwrite=args.overwrite,
    )
    print(json.dumps(summary))
    return 0
