"""The two training stages the loop runs: the masked autoencoder and the latent diffusion model.

A stage builds its modules and optimisers, gives the loop its data set, runs one optimiser
step on a list of micro-batches (gradient accumulation) and keeps beside the checkpoints what
the export needs (:func:`jen1.train.export.export_run`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from jen1.config import Jen1Config, TrainConfig
from jen1.errors import Jen1Error
from jen1.rng import sample_generators
from jen1.train.optim import build_optimizer


def _mean_logs(logs: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in logs[0]:
        vals = [float(d[k]) for d in logs if k in d]
        out[k] = sum(vals) / len(vals)
    return out


class AutoencoderStage:
    """Masked VAE with multi-resolution STFT, mel, L1, KL, adversarial and feature losses.

    One optimiser step: the generator (autoencoder) step over all micro-batches, then, once
    ``ae_loss.disc_start_step`` is reached, the discriminator step on the detached
    reconstructions.
    """

    name = "autoencoder"
    ema_names = ("autoencoder",)

    def __init__(self, cfg: Jen1Config, data_dir: str | Path, init: str | Path | None = None):
        self.cfg = cfg
        self.train_cfg: TrainConfig = cfg.train_autoencoder
        self.data_dir = Path(data_dir)
        self.init = Path(init) if init else None  # model directory to start from
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    def build(self, device: torch.device) -> None:
        from jen1.autoencoder.discriminators import MultiScaleSTFTDiscriminator
        from jen1.autoencoder.losses import MultiResolutionSTFTLoss  # noqa: F401 (import check)
        from jen1.models import build_autoencoder, load_weights

        ae = build_autoencoder(self.cfg.autoencoder)  # the run's config, the init's weights
        if self.init is not None:
            from jen1.checkpoint import load_model_dir

            _, state = load_model_dir(self.init, ("autoencoder",))
            load_weights(ae, state["autoencoder"], "autoencoder")
        ae = ae.to(device)
        trainable = list(ae.parameters())
        if self.cfg.ae_loss.freeze_encoder:
            ae.encoder.requires_grad_(False)
            trainable = list(ae.decoder.parameters())
        disc = MultiScaleSTFTDiscriminator(self.cfg.ae_loss).to(device)
        self.modules = {"autoencoder": ae, "discriminator": disc}
        tc = self.train_cfg
        self.optimizers = {
            "autoencoder": build_optimizer(trainable, tc),
            "discriminator": build_optimizer(list(disc.parameters()), tc),
        }

    def dataset(self) -> Dataset:
        from jen1.data.dataset import AudioClipDataset

        return AudioClipDataset(
            self.data_dir,
            split="train",
            segment_seconds=self.train_cfg.segment_seconds,
            augment=True,
            seed=self.train_cfg.seed,
        )

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "wav": torch.stack([torch.as_tensor(it["wav"]) for it in items]),
            "sample_id": torch.tensor([it["sample_id"] for it in items]),
        }

    def training_step(
        self, fabric: Any, micro_batches: list[dict[str, Any]], step: int
    ) -> dict[str, float]:
        from jen1.autoencoder.losses import (
            discriminator_loss,
            feature_matching_loss,
            generator_adv_loss,
            kl_loss,
            kl_scale,
            magnitude_scale,
            posterior_health,
            reconstruction_losses,
            spectrum_log_magnitude_loss,
            spectrum_loss,
        )

        lc, tc = self.cfg.ae_loss, self.train_cfg
        ae, disc = self.modules["autoencoder"], self.modules["discriminator"]
        opt_g, opt_d = self.optimizers["autoencoder"], self.optimizers["discriminator"]
        use_adv = lc.adv_weight > 0 and step >= lc.disc_start_step
        use_feat = use_adv and lc.feat_weight > 0 and step >= lc.feat_start_step
        acc = len(micro_batches)
        logs: list[dict[str, torch.Tensor]] = []
        recons: list[torch.Tensor] = []

        opt_g.zero_grad(set_to_none=True)
        for mb in micro_batches:
            wav = mb["wav"].to(fabric.device)
            gens = sample_generators(tc.seed, mb["sample_id"], salt=11, device=wav.device)
            out = ae(wav, generator=gens)
            rec = reconstruction_losses(wav, out.recon, lc, magnitude=magnitude_scale(lc, step))
            # the hybrid codec's low-band channels are fixed coefficients, not a posterior
            low = self.cfg.autoencoder.lowband_channels
            mean, logvar = out.mean[:, low:], out.logvar[:, low:]
            kl = kl_loss(mean, logvar)
            loss = rec["recon"] + kl_scale(lc, step) * lc.kl_weight * kl
            log = {k: v.detach() for k, v in rec.items() if k != "recon"}
            # the predicted spectrum is what the network adds to the low band (if any)
            target = wav if out.lowband is None else wav - out.lowband.detach()
            if lc.spectrum_weight > 0 and out.spectrum is not None:
                acfg = self.cfg.autoencoder
                spec = lc.spectrum_weight * spectrum_loss(
                    target, out.spectrum, acfg.n_fft, acfg.stft_hop
                )
                loss = loss + spec
                log["spectrum"] = spec.detach()
            if lc.spectrum_mag_weight > 0 and out.spectrum is not None:
                acfg = self.cfg.autoencoder
                smag = lc.spectrum_mag_weight * spectrum_log_magnitude_loss(
                    target, out.spectrum, acfg.n_fft, acfg.stft_hop
                )
                loss = loss + smag
                log["spectrum_mag"] = smag.detach()
            log["kl"] = kl.detach()
            log.update(posterior_health(mean, logvar, wav, out.recon))
            if use_adv:
                fake = disc(out.recon)
                adv = generator_adv_loss(fake)
                loss = loss + lc.adv_weight * adv
                log["adv"] = adv.detach()
                if use_feat:
                    with torch.no_grad():
                        real = disc(wav)
                    feat = feature_matching_loss(real, fake)
                    loss = loss + lc.feat_weight * feat
                    log["feat"] = feat.detach()
            log["loss"] = loss.detach()
            fabric.backward(loss / acc)
            recons.append(out.recon.detach())
            logs.append(log)
        if tc.grad_clip > 0:
            fabric.clip_gradients(ae, opt_g, max_norm=tc.grad_clip, error_if_nonfinite=False)
        opt_g.step()

        if use_adv:
            opt_d.zero_grad(set_to_none=True)
            for mb, rec_wav, log in zip(micro_batches, recons, logs):
                wav = mb["wav"].to(fabric.device)
                d_loss = discriminator_loss(disc(wav), disc(rec_wav))
                fabric.backward(d_loss / acc)
                log["disc"] = d_loss.detach()
            if tc.grad_clip > 0:
                fabric.clip_gradients(disc, opt_d, max_norm=tc.grad_clip, error_if_nonfinite=False)
            opt_d.step()
        return _mean_logs(logs)

    def prepare_run_dir(self, run_dir: Path) -> None:
        """Nothing to keep: the export is the checkpoint's EMA weights alone."""


class DiffusionStage:
    """Multi-task in-context latent diffusion on a latent cache (``jen1 data encode``).

    ``init``: a model directory (``jen1 export``, or the shipped model) to fine-tune. Its U-Net
    weights are the starting point and its autoencoder, latent normaliser included, is the one
    the run trains on and exports: the cache must hold latents of the same encoder (encode with
    ``--autoencoder`` that model), and its own normaliser, fitted on the new corpus, is not used,
    so the U-Net keeps the latent space it was trained in.
    """

    name = "diffusion"
    ema_names = ("unet",)

    def __init__(self, cfg: Jen1Config, data_dir: str | Path, init: str | Path | None = None):
        from jen1.data.latents import LatentCache

        self.cache = LatentCache(data_dir)
        # The autoencoder and text encoder are fixed by the cache: take their configs from it.
        ae_cfg = self.cache.config.autoencoder
        if cfg.text.name != self.cache.text_encoder:
            raise Jen1Error(
                "the latent cache was encoded with text encoder "
                f"'{self.cache.text_encoder}' but the "
                f"config asks for '{cfg.text.name}'"
            )
        self.cfg = dataclasses.replace(cfg, autoencoder=ae_cfg)
        self.train_cfg: TrainConfig = cfg.train_diffusion
        self.init = Path(init) if init else None
        self.init_cfg: Jen1Config | None = None
        self.init_state: dict[str, dict[str, torch.Tensor]] = {}
        if self.init is not None:
            self._check_init(cfg)
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.probe: Any = None  # a jen1.train.probe.GenerationProbe, run every probe.cfg.every
        self._probe_parts: tuple[Any, ...] | None = None

    @property
    def eval_every(self) -> int:
        """Steps between in-training evaluations (0: none)."""
        return self.probe.cfg.every if self.probe is not None else 0

    def evaluate(self, ema_modules: dict[str, nn.Module], run_dir: Path) -> dict[str, float]:
        """FAD of clips the EMA U-Net generates (:mod:`jen1.train.probe`) -> {"fad", "seconds"}.

        The autoencoder is the run's own (``prepare_run_dir``), so its latent normaliser is the
        one the U-Net trains in; the text encoder is the one the cache was encoded with.
        """
        if self._probe_parts is None:
            from jen1.conditioning.text import load_text_encoder
            from jen1.models import load_autoencoder
            from jen1.train.export import RUN_AUTOENCODER

            device = next(ema_modules["unet"].parameters()).device
            _, ae = load_autoencoder(Path(run_dir) / RUN_AUTOENCODER, device)
            self._probe_parts = (ae, load_text_encoder(self.cfg.text, device))
        ae, text = self._probe_parts
        return self.probe(self.cfg, ae, ema_modules["unet"], text)

    def _check_init(self, cfg: Jen1Config) -> None:
        """Load the model to fine-tune; it must fit the config and the cache's latents."""
        from jen1.checkpoint import load_model_dir

        init_cfg, state = load_model_dir(self.init, ("autoencoder", "unet"))
        if init_cfg.unet != cfg.unet or init_cfg.text != cfg.text:
            raise Jen1Error(
                f"the config's U-Net or text encoder differs from {self.init}'s: "
                f"pass --config {self.init} (plus any --set)"
            )
        if init_cfg.autoencoder != self.cache.config.autoencoder:
            raise Jen1Error(
                f"the latent cache {self.cache.dir} was encoded with another autoencoder "
                f"config than {self.init}'s: encode with --autoencoder {self.init}"
            )
        from jen1.train.export import same_stored

        cached = self.cache.autoencoder_state()
        # a model exported in bf16 holds the rounded copy of the encoder the cache was made with
        changed = [
            k
            for k, v in state["autoencoder"].items()
            if k.startswith("encoder.") and not same_stored(v, cached[k].float())
        ]
        if changed:
            raise Jen1Error(
                f"the latent cache {self.cache.dir} was encoded with another encoder than "
                f"{self.init}'s ({len(changed)} tensors differ): encode with "
                f"--autoencoder {self.init}"
            )
        self.init_cfg, self.init_state = init_cfg, state

    def prepare_run_dir(self, run_dir: Path) -> None:
        """Keep the autoencoder (and normaliser) this run trains on beside its checkpoints."""
        from jen1.checkpoint import save_model_dir
        from jen1.fsutil import copy_folder
        from jen1.train.export import RUN_AUTOENCODER

        dst = Path(run_dir) / RUN_AUTOENCODER
        if dst.exists():
            return
        if self.init_cfg is not None:
            ae = {k: v.float() for k, v in self.init_state["autoencoder"].items()}
            save_model_dir(dst, self.init_cfg, {"autoencoder": ae})
        else:
            copy_folder(self.cache.dir / "autoencoder", dst)

    def build(self, device: torch.device) -> None:
        from jen1.models import build_unet, load_weights

        unet = build_unet(self.cfg)
        if self.init_state:
            unet_state = {k: v.float() for k, v in self.init_state["unet"].items()}
            load_weights(unet, unet_state, "unet")
        unet = unet.to(device)
        self.modules = {"unet": unet}
        self.optimizers = {"unet": build_optimizer(list(unet.parameters()), self.train_cfg)}

    def normalizer(self) -> nn.Module | None:
        """The init model's latent normaliser, or None (the cache's own)."""
        if not self.init_state:
            return None
        from jen1.autoencoder.normalizer import LatentNormalizer

        norm = LatentNormalizer(self.cfg.autoencoder.latent_dim)
        prefix = "normalizer."
        state = {
            k[len(prefix) :]: v.float()
            for k, v in self.init_state["autoencoder"].items()
            if k.startswith(prefix)
        }
        norm.load_state_dict(state, strict=True)
        return norm

    def dataset(self) -> Dataset:
        frames = round(self.train_cfg.segment_seconds * self.cfg.autoencoder.frame_rate)
        return self.cache.dataset("train", frames, self.train_cfg.seed, self.normalizer())

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        out = {
            "z": torch.stack([it["z"] for it in items]),
            "text_emb": torch.stack([it["text_emb"] for it in items]),
            "text_mask": torch.stack([it["text_mask"] for it in items]),
            "sample_id": torch.tensor([it["sample_id"] for it in items]),
        }
        if "control_frames" in items[0]:  # a cache with musical-control labels
            for k in ("control_bpm", "control_codes", "control_frames"):
                out[k] = torch.stack([it[k] for it in items])
        return out

    def _controls(self, mb: dict[str, Any], device: torch.device) -> dict[str, Any]:
        """The control keywords of the train step: a model without controls gets none; one
        with them gets the batch's labels (all absent from a cache without labels)."""
        ccfg = self.cfg.unet.controls
        if ccfg is None:
            return {}
        from jen1.conditioning.control_tensors import ControlTensors, absent_controls

        if "control_frames" in mb:
            codes = mb["control_codes"].to(device)
            controls = ControlTensors(
                mb["control_bpm"].to(device), *codes.unbind(1), mb["control_frames"].to(device)
            )
        else:
            controls = absent_controls(mb["z"].shape[0], mb["z"].shape[-1], device)
        return {"controls": controls, "control_dropout": ccfg.dropout}

    def training_step(
        self, fabric: Any, micro_batches: list[dict[str, Any]], step: int
    ) -> dict[str, float]:
        tc = self.train_cfg
        unet, opt = self.modules["unet"], self.optimizers["unet"]
        acc = len(micro_batches)
        logs = []
        opt.zero_grad(set_to_none=True)
        for mb in micro_batches:
            out = self._micro_batch_loss(mb, fabric.device)
            fabric.backward(out["loss"] / acc)
            logs.append({k: v.detach() for k, v in out.items()})
        if tc.grad_clip > 0:
            fabric.clip_gradients(unet, opt, max_norm=tc.grad_clip, error_if_nonfinite=False)
        opt.step()
        return _mean_logs(logs)

    def _micro_batch_loss(self, mb: dict[str, Any], dev: torch.device) -> dict[str, torch.Tensor]:
        """The multi-task diffusion loss of one micro-batch (``"loss"`` with grad, and logs)."""
        from jen1.diffusion.train_step import diffusion_train_step

        gens = sample_generators(self.train_cfg.seed, mb["sample_id"], salt=23, device=dev)
        return diffusion_train_step(
            self.modules["unet"],
            mb["z"].to(dev),
            mb["text_emb"].to(dev),
            mb["text_mask"].to(dev),
            self.cfg.diffusion,
            gens,
            **self._controls(mb, dev),
        )


RUN_LORA = "lora.json"  # a LoRA run keeps its spec and its base model's identity here


class LoRADiffusionStage(DiffusionStage):
    """:class:`DiffusionStage` that trains LoRA adapters on a frozen ``init`` U-Net.

    The base weights never change and get no gradients; the optimiser, the EMA and the
    checkpoints hold the adapters alone (:meth:`checkpoint_modules`), so a checkpoint is a few
    MB whatever the model's size. ``jen1 export`` of the run writes the adapter file.
    """

    name = "diffusion-lora"
    ema_names = ("lora",)

    def __init__(
        self,
        cfg: Jen1Config,
        data_dir: str | Path,
        init: str | Path | None = None,
        *,
        lora: Any = None,
    ):
        from jen1.diffusion.lora import LoRASpec

        if init is None:
            raise Jen1Error("--lora needs --init MODEL_DIR: the model whose U-Net it adapts")
        if not isinstance(lora, LoRASpec):
            raise Jen1Error("a LoRA run needs its LoRASpec (rank, alpha, targets)")
        super().__init__(cfg, data_dir, init)
        self.lora = lora
        self.adapters: nn.Module | None = None
        self._check_targets()

    def _check_targets(self) -> None:
        """Refuse targets that match no layer now, before training is set up (meta U-Net)."""
        from jen1.diffusion.lora import target_layers
        from jen1.models import build_unet

        with torch.device("meta"):
            target_layers(build_unet(self.cfg), self.lora.targets)

    def base_identity(self) -> dict[str, Any]:
        from jen1.adapter import base_identity

        assert self.init_cfg is not None
        return base_identity(self.init_cfg, self.init_state["unet"])

    def prepare_run_dir(self, run_dir: Path) -> None:
        """The autoencoder copy, and ``lora.json``: the spec, the init and its identity."""
        import json

        super().prepare_run_dir(run_dir)
        info = {**self.lora.to_dict(), "init": str(self.init), "base": self.base_identity()}
        path = Path(run_dir) / RUN_LORA
        if path.exists():
            old = json.loads(path.read_text())
            if old["base"]["shapes"] != info["base"]["shapes"] or any(
                old[k] != info[k] for k in ("rank", "alpha", "targets")
            ):
                raise Jen1Error(
                    f"{run_dir} is a LoRA run with rank {old['rank']}, alpha {old['alpha']} "
                    f"on {old['init']}: resume it with the same --init and --lora settings"
                )
            return
        path.write_text(json.dumps(info, indent=2) + "\n")

    def build(self, device: torch.device) -> None:
        from jen1.diffusion.lora import add_adapters
        from jen1.models import build_unet, load_weights

        unet = build_unet(self.cfg)
        load_weights(unet, {k: v.float() for k, v in self.init_state["unet"].items()}, "unet")
        adapters = add_adapters(unet, self.lora)  # freezes the base
        self.modules = {"unet": unet.to(device)}
        self.adapters = adapters.to(device)
        # keyed "unet" as in a full run: the parent's training step steps it
        self.optimizers = {"unet": build_optimizer(list(adapters.parameters()), self.train_cfg)}

    def checkpoint_modules(self) -> dict[str, nn.Module]:
        """What the checkpoint holds and the EMA averages: the adapters alone."""
        assert self.adapters is not None
        return {"lora": self.adapters}


RUN_DISTILL = "distill.json"  # a distillation run keeps its spec and its teacher here


class DistillStage(DiffusionStage):
    """Distillation of the ``init`` model: consistency (:mod:`jen1.diffusion.consistency`) or
    guidance (:mod:`jen1.diffusion.guidance_distill`), as ``spec.method`` says.

    The student starts as a copy of the teacher's U-Net and is the module trained, averaged and
    checkpointed; the teacher stays frozen beside it, rebuilt from ``init`` on every start. The
    run's config samples with the student's settings (``spec.steps`` steps, no guidance: it is
    baked in; the ``lcm`` sampler for a consistency student, the teacher's own for a guidance
    student, which follows the guided teacher's ODE), so ``jen1 export`` writes a model that
    runs so.
    """

    name = "distill"

    def __init__(
        self,
        cfg: Jen1Config,
        data_dir: str | Path,
        init: str | Path | None = None,
        *,
        distill: Any = None,
    ):
        from jen1.diffusion.consistency import DistillSpec

        if init is None:
            raise Jen1Error("jen1 train distill needs --init MODEL_DIR: the teacher")
        if not isinstance(distill, DistillSpec):
            raise Jen1Error("a distillation run needs its DistillSpec (steps, grid, guidance)")
        distill.check()
        super().__init__(cfg, data_dir, init)
        self.spec = distill
        sampler = "lcm" if distill.method == "consistency" else self.cfg.sampling.sampler
        self.cfg = dataclasses.replace(
            self.cfg,
            sampling=dataclasses.replace(
                self.cfg.sampling, sampler=sampler, steps=distill.steps, cfg_scale=1.0
            ),
        )
        self.teacher: nn.Module | None = None

    def prepare_run_dir(self, run_dir: Path) -> None:
        """The autoencoder copy, and ``distill.json``: the spec and the teacher."""
        import json

        from jen1.diffusion.consistency import DistillSpec

        super().prepare_run_dir(run_dir)
        info = {**self.spec.to_dict(), "init": str(self.init)}
        path = Path(run_dir) / RUN_DISTILL
        if path.exists():
            # a run from before the guidance method has no "method": it is a consistency run
            old = DistillSpec.from_dict(json.loads(path.read_text())).to_dict()
            if any(old[k] != info[k] for k in ("method", "steps", "grid", "cfg_scale")):
                raise Jen1Error(
                    f"{run_dir} distils by {old['method']} with steps {old['steps']}, grid "
                    f"{old['grid']}, guidance {old['cfg_scale']}: resume it with the same settings"
                )
            return
        path.write_text(json.dumps(info, indent=2) + "\n")

    def build(self, device: torch.device) -> None:
        from jen1.models import build_unet, load_weights

        super().build(device)  # the student: the init U-Net, trainable
        teacher = build_unet(self.cfg)
        load_weights(teacher, {k: v.float() for k, v in self.init_state["unet"].items()}, "unet")
        self.teacher = teacher.to(device).eval().requires_grad_(False)

    def _micro_batch_loss(self, mb: dict[str, Any], dev: torch.device) -> dict[str, torch.Tensor]:
        """The distillation loss (the spec's method) of one micro-batch against the teacher."""
        from jen1.diffusion.consistency import consistency_distill_step
        from jen1.diffusion.guidance_distill import guidance_distill_step

        assert self.teacher is not None
        gens = sample_generators(self.train_cfg.seed, mb["sample_id"], salt=29, device=dev)
        step = guidance_distill_step if self.spec.method == "guidance" else consistency_distill_step
        return step(
            self.modules["unet"],
            self.teacher,
            mb["z"].to(dev),
            mb["text_emb"].to(dev),
            mb["text_mask"].to(dev),
            self.cfg.diffusion,
            self.spec,
            gens,
            controls=self._controls(mb, dev).get("controls"),
        )


STAGES = {"autoencoder": AutoencoderStage, "diffusion": DiffusionStage, "distill": DistillStage}
