"""A LoRA adapter merged into a pipeline's U-Net, at a scale each request may change.

The update ``scale * (alpha / r) B A`` is added into the weights (:func:`jen1.diffusion.lora.
merge`), so sampling costs what it costs without an adapter. A request with another
``adapter_scale`` merges again from the kept base weights (exact, no drift) and repacks the
oneDNN copies; it waits until no sampling run uses the U-Net, and runs that start meanwhile
wait for it, so a run never sees weights change under it. Runs at the current scale go
side by side as before.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from jen1.adapter import Adapter, load_adapter
from jen1.config import Jen1Config
from jen1.diffusion.lora import lora_delta, merge, target_layers


class AppliedAdapter:
    """An adapter merged into ``unet`` at ``scale``; :meth:`use` runs a request at its scale.

    Args:
        unet: the pipeline's U-Net (weights in any dtype; float32 before casting is exact).
        adapter: the loaded adapter, checked against the model by :func:`apply_adapter`.
        scale: the scale to merge at first.
    """

    def __init__(
        self, unet: nn.Module, adapter: Adapter, scale: float, cfg: Jen1Config | None = None
    ) -> None:
        self.unet = unet
        self.adapter = adapter
        self.cfg = cfg  # to warm repacked weights at the sampling window (None: no warm-up)
        self.scale = float(scale)
        self.base: dict[str, Tensor] = merge(unet, adapter.state, adapter.spec, self.scale)
        self._repack()  # a U-Net prepared before the merge: its packs retired themselves
        self._cond = threading.Condition()
        self._active = 0

    @property
    def path(self) -> Path:
        return self.adapter.path

    @torch.no_grad()
    def _remerge(self, scale: float) -> None:
        """Weights = base + scale * update, in each weight's own dtype and layout."""
        layers = target_layers(self.unet, self.adapter.spec.targets)
        for name, layer in layers.items():
            w = layer.weight
            base = self.base[name].to(w.device, torch.float32)
            a = self.adapter.state[f"{name}.lora_A"].to(w.device)
            b = self.adapter.state[f"{name}.lora_B"].to(w.device)
            d = lora_delta(a, b, base, self.adapter.spec.scaling * scale)
            w.copy_(base + d)  # copy_ keeps the weight's dtype and memory layout
        self.scale = scale
        self._repack()

    def _repack(self) -> None:
        """Pack the merged weights again where the U-Net had packs (they retire on a change)."""
        from jen1.diffusion import packing

        if not packing.has_packs(self.unet):
            return
        packing.unpack(self.unet)
        if packing.pack_for_inference(self.unet) and self.cfg is not None:
            from jen1.inference.prepare import warm_unet

            bf16 = any(p.dtype == torch.bfloat16 for p in self.unet.parameters())
            warm_unet(self.unet, self.cfg, bf16=bf16)  # as prepare_unet does at load

    @contextlib.contextmanager
    def use(self, scale: float | None) -> Iterator[None]:
        """Hold the U-Net at ``scale`` (None: as it is) for one request's sampling."""
        with self._cond:
            if scale is not None:
                while scale != self.scale and self._active:
                    self._cond.wait()
                if scale != self.scale:
                    self._remerge(scale)
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()


def apply_adapter(
    unet: nn.Module,
    cfg: Jen1Config,
    path: str | Path | Adapter,
    scale: float = 1.0,
) -> AppliedAdapter:
    """Load the adapter at ``path``, refuse it if it is for another model, merge it into ``unet``.

    Raises:
        AdapterMismatch: the adapter's base model has another architecture (named).
    """
    adapter = path if isinstance(path, Adapter) else load_adapter(path)
    adapter.check_base(cfg, {k: v for k, v in unet.state_dict().items()})
    return AppliedAdapter(unet, adapter, scale, cfg)


def adapter_scope(
    adapter: AppliedAdapter | None, scale: float | None
) -> contextlib.AbstractContextManager[None]:
    """The context a request samples in: its ``adapter_scale`` applied (:meth:`AppliedAdapter.
    use`), or nothing without an adapter, where a scale is refused rather than ignored."""
    if adapter is not None:
        return adapter.use(scale)
    if scale is not None:
        from jen1.request import RequestError

        msg = "adapter_scale applies to a model loaded with an adapter (--adapter DIR)"
        raise RequestError(msg, "adapter_scale")
    return contextlib.nullcontext()
