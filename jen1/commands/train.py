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
        help="train the autoencoder or the diffusion model, or distil a few-step student",
        formatter_class=fmt,
        description=(
            "Train one stage on Lightning Fabric. One CPU: the defaults."
            " One GPU: --accelerator gpu."
            " Several GPUs: --devices N (DDP). Several nodes: launch with torchrun or srun and pass"
            " --num-nodes M --devices N. Stop any time (Ctrl-C / SIGTERM saves a checkpoint);"
            " continue with --resume."
        ),
    )
    p.add_argument("stage", choices=["autoencoder", "diffusion", "distill"])
    p.add_argument(
        "--config",
        default=None,
        help="tiny | small | paper | path/to/config.json (default: small; with --lora, the "
        "--init model's)",
    )
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
    p.add_argument(
        "--lora",
        type=int,
        default=None,
        metavar="RANK",
        help="diffusion: train LoRA adapters of this rank on the --init model's frozen U-Net "
        "(attention projections, feed-forward linears, residual convs and 1x1 skips); "
        "jen1 export then writes the adapter alone",
    )
    p.add_argument(
        "--lora-alpha",
        type=float,
        default=None,
        help="LoRA scale alpha (update x alpha/rank); default: the rank",
    )
    p.add_argument(
        "--lora-targets",
        default=None,
        metavar="NAMES",
        help="comma-separated suffixes of U-Net layer names to adapt (default: "
        "self_attn.qkv,self_attn.out,cross_attn.q,cross_attn.kv,cross_attn.out,ff.net.1,"
        "ff.net.3,conv1,conv2,skip)",
    )
    d = p.add_argument_group(
        "distillation (jen1 train distill --init TEACHER --data LATENTS)",
        "distillation of the --init model into a student that samples without guidance (the "
        "teacher's is baked in): consistency (default), a few-step student sampled with lcm; "
        "guidance, a student sampled with the teacher's sampler at one network call per step "
        "instead of two; the latent cache must be encoded with --autoencoder TEACHER",
    )
    d.add_argument(
        "--distill-method",
        choices=["consistency", "guidance"],  # consistency.METHODS (not imported: torch)
        default=None,
        help="consistency: a few-step student (LCM); guidance: the guided teacher in one "
        "network call per step (default: consistency)",
    )
    d.add_argument(
        "--distill-steps",
        type=positive_int,
        default=None,
        help="the student's default sampling steps (default: 4; guidance: the teacher's)",
    )
    d.add_argument(
        "--distill-grid",
        type=positive_int,
        default=None,
        help="consistency: steps of the teacher's solver grid, a multiple of --distill-steps "
        "(default: 32)",
    )
    d.add_argument(
        "--distill-cfg",
        type=float,
        default=None,
        help="the teacher's guidance scale baked into the student (default: the teacher's)",
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
    g = p.add_argument_group(
        "evaluation during training (diffusion)",
        "every N steps the EMA U-Net generates clips for the first prompts of a file and their "
        "FAD-musicnn against a reference set goes into the logs as eval_fad",
    )
    g.add_argument("--eval-every", type=positive_int, default=None, metavar="N")
    g.add_argument("--eval-prompts", type=Path, default=None, help="a prompts file")
    g.add_argument(
        "--eval-reference",
        type=Path,
        default=None,
        help="a corpus directory (its test split) or a folder of audio files",
    )
    g.add_argument("--eval-n", type=positive_int, default=24, help="clips per evaluation")
    g.add_argument("--eval-seconds", type=float, default=10.0)
    g.add_argument(
        "--eval-steps", type=positive_int, default=None, help="default: the model's steps"
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
        "export",
        help="write a run's EMA weights as a model directory (a LoRA run: the adapter alone, "
        "OUT/adapter.safetensors)",
        formatter_class=fmt,
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
    e.add_argument(
        "--student",
        action="store_true",
        help="distillation runs: write the student into MODEL_DIR/fast, the few-step student "
        "of the model it was distilled from ('--fast' samples with it)",
    )
    e.add_argument("--overwrite", action="store_true")
    e.set_defaults(func=run_export)


def _lora_settings(args: argparse.Namespace) -> tuple[object | None, Path | None]:
    """(LoRASpec or None, init model): from the flags, or from a LoRA run being resumed."""
    from jen1.diffusion.lora import DEFAULT_TARGETS, LoRASpec
    from jen1.errors import Jen1Error
    from jen1.train.stages import RUN_LORA

    saved = args.out / RUN_LORA
    resumed = json.loads(saved.read_text()) if args.resume and saved.exists() else None
    if args.lora is None and resumed is None:
        if args.lora_alpha is not None or args.lora_targets is not None:
            raise Jen1Error("--lora-alpha and --lora-targets need --lora RANK")
        return None, args.init
    if args.stage != "diffusion":
        raise Jen1Error("--lora applies to 'jen1 train diffusion' only")
    if args.lora is None:  # resuming: the run's own settings
        assert resumed is not None
        spec = LoRASpec.from_dict(resumed)
    else:
        targets = DEFAULT_TARGETS
        if args.lora_targets is not None:
            targets = tuple(args.lora_targets.split(","))
        spec = LoRASpec(args.lora, args.lora_alpha, targets)
    init = args.init if args.init is not None else (Path(resumed["init"]) if resumed else None)
    if init is None:
        raise Jen1Error("--lora needs --init MODEL_DIR: the model whose U-Net it adapts")
    return spec, init


def _distill_settings(args: argparse.Namespace) -> object | None:
    """The DistillSpec of a distillation run: from the flags, or from the run being resumed."""
    from jen1.diffusion.consistency import DistillSpec
    from jen1.errors import Jen1Error
    from jen1.train.stages import RUN_DISTILL

    flags = (args.distill_method, args.distill_steps, args.distill_grid, args.distill_cfg)
    if args.stage != "distill":
        if any(f is not None for f in flags):
            raise Jen1Error(
                "--distill-method, --distill-steps, --distill-grid and --distill-cfg need "
                "'jen1 train distill'"
            )
        return None
    saved = args.out / RUN_DISTILL
    if args.resume and saved.exists():
        info = json.loads(saved.read_text())
        if args.init is None:
            args.init = Path(info["init"])
        base = DistillSpec.from_dict(info)
        if args.distill_method not in (None, base.method):
            # said before any other setting is checked against the other method's rules
            raise Jen1Error(
                f"{args.out} distils by {base.method}: resume it without --distill-method "
                f"{args.distill_method}"
            )
    else:
        if args.init is None:
            raise Jen1Error("jen1 train distill needs --init MODEL_DIR: the teacher")
        from jen1.config import load_config

        sampling = load_config(str(args.init)).sampling
        method = args.distill_method or "consistency"
        # a guidance student samples as the teacher does, so by default with its steps too
        steps = sampling.steps if method == "guidance" else DistillSpec.steps
        base = DistillSpec(steps=steps, cfg_scale=sampling.cfg_scale, method=method)
    spec = DistillSpec(
        base.steps if args.distill_steps is None else args.distill_steps,
        base.grid if args.distill_grid is None else args.distill_grid,
        base.cfg_scale if args.distill_cfg is None else args.distill_cfg,
        base.method,
    )
    if spec.method == "guidance" and args.distill_grid is not None:
        # a guidance student trains at any time of the teacher's: a grid would be ignored
        raise Jen1Error("--distill-grid applies to --distill-method consistency only")
    spec.check()
    return spec


def _probe(args: argparse.Namespace) -> object | None:
    """The in-training evaluation the flags ask for (checked now, before any training)."""
    from jen1.errors import Jen1Error
    from jen1.train.probe import GenerationProbe, ProbeConfig

    given = args.eval_prompts is not None or args.eval_reference is not None
    if args.eval_every is None:
        if given:
            raise Jen1Error("--eval-prompts and --eval-reference need --eval-every N")
        return None
    if args.stage not in ("diffusion", "distill"):
        raise Jen1Error(
            "--eval-every applies to 'jen1 train diffusion' and 'jen1 train distill' only"
        )
    if args.eval_prompts is None or args.eval_reference is None:
        raise Jen1Error("--eval-every needs --eval-prompts FILE and --eval-reference DIR")
    probe = ProbeConfig(
        every=args.eval_every,
        prompts=args.eval_prompts,
        reference=args.eval_reference,
        n=args.eval_n,
        seconds=args.eval_seconds,
        steps=args.eval_steps,
    )
    return GenerationProbe(probe, args.out)  # reads the prompts and lists the reference now


def run_train(args: argparse.Namespace) -> int:
    from jen1.config import load_config
    from jen1.errors import Jen1Error
    from jen1.train.loop import RunOptions, train
    from jen1.train.stages import STAGES, DistillStage, LoRADiffusionStage

    distill = _distill_settings(args)  # before the LoRA flags: it may take --init from the run
    spec, init = _lora_settings(args)
    probe = _probe(args)  # its flags are checked before anything is loaded
    if probe is not None and spec is not None:
        raise Jen1Error("--eval-every is not available with --lora")
    config = args.config or (str(init) if spec is not None or distill is not None else "small")
    cfg = load_config(config, args.overrides)
    if args.resume:
        from jen1.config import Jen1Config, apply_overrides
        from jen1.train.loop import latest_checkpoint, load_training_checkpoint

        ckpt = latest_checkpoint(args.out)
        if ckpt is not None:  # a resumed run keeps the config it started with (plus overrides)
            cfg = Jen1Config.from_dict(load_training_checkpoint(ckpt)["config"])
            cfg = apply_overrides(cfg, args.overrides)
    if spec is not None:
        stage = LoRADiffusionStage(cfg, args.data, init, lora=spec)
    elif distill is not None:
        stage = DistillStage(cfg, args.data, init, distill=distill)
    else:
        kwargs = {"init": init} if init is not None else {}
        stage = STAGES[args.stage](cfg, args.data, **kwargs)
    if probe is not None:
        stage.probe = probe
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

    if args.student:
        from jen1.errors import Jen1Error

        if args.card is not None or args.unet_from is not None:
            raise Jen1Error("--student: --card and --unet-from do not apply")
        from jen1.student import export_student

        summary = export_student(
            args.run_dir, args.model_dir, dtype=args.dtype, overwrite=args.overwrite
        )
        print(json.dumps(summary))
        return 0
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
