"""Exporting a run: its latest checkpoint's EMA weights as a model directory (``jen1 export``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from jen1.config import Jen1Config
from jen1.errors import Jen1Error
from jen1.train.loop import latest_checkpoint, load_training_checkpoint

RUN_AUTOENCODER = "autoencoder"  # diffusion runs keep a copy of their autoencoder here


def export_run(run_dir: str | Path) -> tuple[Jen1Config, dict[str, dict[str, torch.Tensor]], int]:
    """Return (config, {component: EMA state dict}, step) of a run's latest checkpoint.

    A diffusion run also exports the autoencoder (with its latent normaliser) it was trained
    on, from the copy kept in ``RUN_DIR/autoencoder``.
    """
    run_dir = Path(run_dir)
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise Jen1Error(f"no checkpoint in {run_dir}")
    state = load_training_checkpoint(ckpt)
    cfg = Jen1Config.from_dict(state["config"])
    if state["stage"] == "autoencoder":
        comps = {"autoencoder": state["ema"]["autoencoder"]["shadow"]}
    elif state["stage"] in ("diffusion", "distill"):  # distill: the student
        from jen1.checkpoint import load_model_dir

        ae_dir = run_dir / RUN_AUTOENCODER
        _, ae_state = load_model_dir(ae_dir, ("autoencoder",))
        comps = {"autoencoder": ae_state["autoencoder"], "unet": state["ema"]["unet"]["shadow"]}
    else:
        raise Jen1Error(f"{ckpt} holds an unknown stage '{state['stage']}'")
    return cfg, comps, int(state["step"])


def merge_unet_from(
    run_dir: Path,
    cfg: Jen1Config,
    components: dict[str, dict[str, torch.Tensor]],
    model_dir: Path,
) -> tuple[Jen1Config, dict[str, dict[str, torch.Tensor]]]:
    """An autoencoder run's weights beside ``model_dir``'s U-Net (and config).

    For a decoder fine-tuned with a frozen encoder: the encoder must equal the model's (tensor
    by tensor), or its U-Net would sample latents of another space, and the latent normaliser
    is the model's. The config is the model's, with this run's autoencoder training recipe.
    """
    from jen1.checkpoint import load_model_dir

    if "unet" in components:
        raise Jen1Error("--unet-from applies to autoencoder runs only")
    base_cfg, base = load_model_dir(model_dir, ("autoencoder", "unet"))
    if base_cfg.autoencoder != cfg.autoencoder:
        raise Jen1Error(f"the autoencoder of {run_dir} has another config than {model_dir}")
    enc = {k: v for k, v in base["autoencoder"].items() if k.startswith("encoder.")}
    changed = [k for k, v in enc.items() if not same_stored(v, components["autoencoder"][k])]
    if changed:
        raise Jen1Error(
            f"the encoder of {run_dir} differs from {model_dir}'s ({len(changed)} "
            "tensors): its U-Net was trained on other latents (train with "
            "--set ae_loss.freeze_encoder=true --init MODEL_DIR)"
        )
    # the latent normaliser belongs to the latent space the U-Net was trained in: the base's
    # (a decoder run started from an autoencoder exported before `jen1 data encode` fitted it
    # would otherwise bring an unfitted one, and every generation would be mis-scaled)
    ae = {k: v for k, v in components["autoencoder"].items() if not k.startswith("normalizer.")}
    ae.update({k: v for k, v in base["autoencoder"].items() if k.startswith("normalizer.")})
    merged = {"autoencoder": ae, "unet": base["unet"]}
    recipe = {"ae_loss": cfg.ae_loss, "train_autoencoder": cfg.train_autoencoder}
    return dataclasses.replace(base_cfg, **recipe), merged


DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
_STORED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def same_stored(stored: torch.Tensor, tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` equals ``stored`` (read back from a model directory as float32) once
    rounded to one of the dtypes a model may be stored in: a model exported with ``--dtype
    bfloat16`` holds the rounded copy of the encoder a full-precision run keeps."""
    if not tensor.is_floating_point():
        return torch.equal(stored, tensor)
    return any(torch.equal(stored.float(), tensor.to(dt).float()) for dt in _STORED_DTYPES)


def export_model(
    run_dir: str | Path,
    model_dir: str | Path,
    *,
    dtype: str = "float32",
    card: str | None = None,
    unet_from: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a run's EMA weights as a model directory -> summary (step, parameters per part).

    Args:
        dtype: ``float32``, ``bfloat16`` or ``float16`` for the stored floating-point tensors.
        card: markdown text shipped as ``model_card.md``.
        unet_from: autoencoder runs: take the U-Net and config from this model directory
            (:func:`merge_unet_from`).
        overwrite: replace a model already in ``model_dir``.
    """
    from jen1.checkpoint import WEIGHTS, save_model_dir

    run_dir, model_dir = Path(run_dir), Path(model_dir)
    if is_lora_run(run_dir):
        if unet_from is not None or card is not None:
            raise Jen1Error(f"{run_dir} is a LoRA run: --unet-from and --card do not apply")
        return export_adapter(run_dir, model_dir, dtype=dtype, overwrite=overwrite)
    if (model_dir / WEIGHTS).exists() and not overwrite:
        raise Jen1Error(f"{model_dir} already holds a model (pass --overwrite to replace it)")
    from jen1.student import has_student, student_dir

    if has_student(model_dir):  # it would sample a U-Net that is no longer there
        raise Jen1Error(
            f"{model_dir} holds a few-step student of the model this replaces "
            f"({student_dir(model_dir)}): move or delete it first, then distil again"
        )
    if dtype not in DTYPES:
        raise Jen1Error(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    cfg, components, step = export_run(run_dir)
    if unet_from is not None:
        cfg, components = merge_unet_from(run_dir, cfg, components, Path(unet_from))
    save_model_dir(model_dir, cfg, components, dtype=DTYPES[dtype], card=card)
    sizes = {k: sum(v.numel() for v in sd.values()) for k, sd in components.items()}
    return {"model_dir": str(model_dir), "step": step, "parameters": sizes}


def is_lora_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` is a LoRA run (``jen1 train diffusion --lora``)."""
    from jen1.train.stages import RUN_LORA

    return (Path(run_dir) / RUN_LORA).exists()


def export_adapter(
    run_dir: str | Path, out_dir: str | Path, *, dtype: str = "float32", overwrite: bool = False
) -> dict[str, Any]:
    """Write a LoRA run's EMA adapter as ``OUT/adapter.safetensors`` -> summary.

    The file holds the factors alone (not the base model) and, in its metadata, the rank,
    alpha, target modules and the base model's identity (:mod:`jen1.adapter`).
    """
    import json

    from jen1.adapter import ADAPTER_FILE, save_adapter
    from jen1.diffusion.lora import LoRASpec, state_from_dict
    from jen1.train.stages import RUN_LORA

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if (out_dir / ADAPTER_FILE).exists() and not overwrite:
        raise Jen1Error(f"{out_dir} already holds an adapter (pass --overwrite to replace it)")
    if dtype not in DTYPES:
        raise Jen1Error(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise Jen1Error(f"no checkpoint in {run_dir}")
    state = load_training_checkpoint(ckpt)
    if state.get("stage") != "diffusion-lora":
        raise Jen1Error(f"{ckpt} is a '{state.get('stage')}' checkpoint, not a LoRA run's")
    info = json.loads((run_dir / RUN_LORA).read_text())
    spec = LoRASpec.from_dict(info)
    factors = state_from_dict(state["ema"]["lora"]["shadow"])
    path = save_adapter(
        out_dir,
        spec,
        factors,
        info["base"],
        step=int(state["step"]),
        dtype=DTYPES[dtype],
        overwrite=overwrite,
    )
    return {
        "adapter": str(path),
        "step": int(state["step"]),
        "rank": spec.rank,
        "layers": len(factors) // 2,
        "parameters": sum(v.numel() for v in factors.values()),
        "bytes": path.stat().st_size,
        "base": info["base"]["name"],
    }
