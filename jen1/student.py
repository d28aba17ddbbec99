"""A model's few-step student, ``MODEL_DIR/fast``, sampled with ``--fast`` (issue 24).

A student distilled from a model (``jen1 train distill --init MODEL_DIR``) ships inside that
model's directory as ``fast/``: a ``config.json`` with the student's U-Net and sampling settings
(its steps and sampler, no guidance: it is distilled in) and a ``model.safetensors`` holding its
U-Net alone. The autoencoder, its latent normaliser and the text encoder are the model's own, so
a student adds one U-Net and nothing else; ``jen1 export RUN MODEL_DIR --student`` writes it
there after checking that it was distilled on that model's latents.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from jen1.config import Jen1Config
from jen1.errors import Jen1Error

FAST_DIR = "fast"


def student_dir(model_dir: str | Path) -> Path:
    """Where ``model_dir`` keeps its student (present or not)."""
    return Path(model_dir) / FAST_DIR


def has_student(model_dir: str | Path) -> bool:
    from jen1.checkpoint import WEIGHTS

    return (student_dir(model_dir) / WEIGHTS).is_file()


def fast_config(model_dir: str | Path) -> Jen1Config:
    """The config ``--fast`` samples with: the model's, with the student's U-Net, diffusion and
    sampling settings.

    Raises:
        Jen1Error: the model has no student (saying how to make one), or its student was
            distilled from another autoencoder or text encoder.
    """
    from jen1.checkpoint import load_config_from_dir

    model_dir = Path(model_dir)
    cfg = load_config_from_dir(model_dir)
    if not has_student(model_dir):
        raise Jen1Error(
            f"the model {model_dir} has no few-step student ({student_dir(model_dir)}): distil "
            f"one with 'jen1 train distill --init {model_dir}' and write it there with "
            f"'jen1 export RUN {model_dir} --student'"
        )
    student = load_config_from_dir(student_dir(model_dir))
    if student.autoencoder != cfg.autoencoder or student.text != cfg.text:
        raise Jen1Error(
            f"{student_dir(model_dir)} was distilled from a model with another autoencoder "
            f"or text encoder than {model_dir}'s"
        )
    return dataclasses.replace(
        cfg, unet=student.unet, diffusion=student.diffusion, sampling=student.sampling
    )


def load_student(model_dir: str | Path) -> tuple[Jen1Config, dict[str, Any]]:
    """The model's autoencoder and its student's U-Net, loaded as :func:`jen1.models.
    load_components` loads a model -> (:func:`fast_config`, {"autoencoder", "unet"})."""
    from jen1.checkpoint import load_model_dir
    from jen1.models import build_loaded, load_components

    cfg = fast_config(model_dir)
    _, mods = load_components(model_dir, ("autoencoder",))
    _, state = load_model_dir(student_dir(model_dir), ("unet",))
    mods["unet"] = build_loaded("unet", cfg, state["unet"])
    return cfg, mods


def export_student(
    run_dir: str | Path,
    model_dir: str | Path,
    *,
    dtype: str = "float32",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a distillation run's EMA student into ``model_dir/fast`` -> summary.

    Refused unless ``run_dir`` is a distillation run whose autoencoder (normaliser included)
    is ``model_dir``'s, tensor by tensor (up to the dtype it is stored in).
    """
    from jen1.checkpoint import WEIGHTS, load_config_from_dir, load_model_dir, save_model_dir
    from jen1.train.export import DTYPES, same_stored, export_run
    from jen1.train.stages import RUN_DISTILL

    run_dir, model_dir = Path(run_dir), Path(model_dir)
    if not (run_dir / RUN_DISTILL).is_file():
        raise Jen1Error(
            f"--student takes a distillation run ('jen1 train distill'); {run_dir} is not one"
        )
    if dtype not in DTYPES:
        raise Jen1Error(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    dst = student_dir(model_dir)
    if (dst / WEIGHTS).exists() and not overwrite:
        raise Jen1Error(f"{model_dir} already has a student in {dst} (pass --overwrite)")
    base_cfg = load_config_from_dir(model_dir)
    cfg, components, step = export_run(run_dir)
    _, base = load_model_dir(model_dir, ("autoencoder",))
    ae = components["autoencoder"]
    differ = [k for k, v in base["autoencoder"].items() if k not in ae or not same_stored(v, ae[k])]
    if differ or base_cfg.autoencoder != cfg.autoencoder or base_cfg.text != cfg.text:
        raise Jen1Error(
            f"{run_dir} was distilled on another model's latents than {model_dir}'s "
            f"({len(differ)} autoencoder tensors differ): distil with --init {model_dir}"
        )
    save_model_dir(dst, cfg, {"unet": components["unet"]}, dtype=DTYPES[dtype])
    s = cfg.sampling
    return {
        "student_dir": str(dst),
        "step": step,
        "parameters": sum(v.numel() for v in components["unet"].values()),
        "sampling": {"sampler": s.sampler, "steps": s.steps, "cfg_scale": s.cfg_scale},
    }
