"""LoRA adapters for the U-Net: low-rank weight updates ``W + (alpha / r) B A`` (Hu et al. 2021).

Why not peft: peft's LoRA layers wrap a module and add ``B(A(x))`` to the module's *forward*.
The U-Net's kernels do not all go through a forward: :func:`jen1.diffusion.ops.conv1d` reads
``conv.weight`` of every convolution itself (channels-last frames, causal padding, the bf16
conv-as-matmul path), the residual blocks' 1x1 skips and the feed-forward's first linear
(GELU fused) are called the same way. Checked with peft 0.21.2 on the tiny U-Net: with the
feed-forward's first linear targeted, peft wraps it and the output stays bit for bit the same
(its update never runs); with a convolution targeted the forward fails (the kernel reads conv
attributes the wrapper does not have), and peft's Conv1d LoRA expects (B, C, T) inputs where
the U-Net runs (B, T, C). Only the attention projections would work. So the update is applied
where every kernel looks, on the weight: each adapted layer's ``weight`` is parametrised
(``torch.nn.utils.parametrize``) as the frozen weight plus the low-rank product, and a kernel
that reads ``module.weight`` sees the adapted one whichever path it takes. The cost: the
backward computes each adapted layer's full weight gradient (then projects it onto A and B),
where peft's form computes only the small factors' (figures in ``benchmarks/README.md``).
For inference the product is merged into the weights (:func:`merge`), so sampling runs at the
speed of the base model, oneDNN packs included.

A layer's update is ``(alpha / rank) * B @ A``: ``A`` (r, fan_in) random, ``B`` (C_out, r)
zero, so a new adapter leaves the network exactly as it was. A convolution's fan-in is
ordered (K, C_in), the memory order the U-Net keeps conv weights in
(:func:`jen1.diffusion.ops.frames_last_`), so the update is laid out like the weight it is
added to and the kernels take the same path as without an adapter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from jen1.diffusion.layers import Conv1d
from jen1.errors import Jen1Error

# Layers adapted by default (suffixes of module names in the U-Net): every projection of self-
# and cross-attention, both feed-forward linears, and the residual blocks' two convolutions and
# 1x1 skips. Left out: the time and text embeddings (a few small layers that every block
# reads, where a change moves the whole network) and the input/output and resampling convs.
DEFAULT_TARGETS: tuple[str, ...] = (
    "self_attn.qkv",
    "self_attn.out",
    "cross_attn.q",
    "cross_attn.kv",
    "cross_attn.out",
    "ff.net.1",
    "ff.net.3",
    "conv1",
    "conv2",
    "skip",
)


@dataclass(frozen=True)
class LoRASpec:
    """Which layers get adapters, and their rank and scale.

    Attributes:
        rank: r, the inner width of each update (1 or more).
        alpha: the update is scaled by ``alpha / rank`` (peft's convention; alpha = rank: 1).
        targets: suffixes of U-Net module names; a linear or conv layer whose name ends with
            one gets an adapter (``"conv1"`` names the residual blocks' first convolutions).
    """

    rank: int
    alpha: float | None = None  # None: alpha = rank
    targets: tuple[str, ...] = field(default=DEFAULT_TARGETS)

    def __post_init__(self) -> None:
        r = self.rank
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise Jen1Error(f"LoRA rank must be a whole number of at least 1, got {r!r}")
        alpha = float(r) if self.alpha is None else self.alpha
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise Jen1Error(f"LoRA alpha must be a number, got {alpha!r}")
        if not math.isfinite(alpha) or alpha <= 0:
            raise Jen1Error(f"LoRA alpha must be a positive number, got {alpha!r}")
        targets = tuple(t.strip() for t in self.targets if t.strip())
        if not targets:
            raise Jen1Error("LoRA targets are empty: name at least one layer")
        object.__setattr__(self, "alpha", float(alpha))
        object.__setattr__(self, "targets", targets)

    @property
    def scaling(self) -> float:
        """``alpha / rank``, the factor of ``B @ A``."""
        return float(self.alpha) / self.rank

    def to_dict(self) -> dict:
        return {"rank": self.rank, "alpha": self.alpha, "targets": list(self.targets)}

    @classmethod
    def from_dict(cls, d: dict) -> LoRASpec:
        return cls(int(d["rank"]), float(d["alpha"]), tuple(d["targets"]))


def target_layers(unet: nn.Module, targets: tuple[str, ...]) -> dict[str, nn.Module]:
    """The layers ``targets`` select, by the module name that holds the weight.

    Each target must select at least one layer (a typo is an error, not an adapter-less run).
    """
    found: dict[str, nn.Module] = {}
    for t in targets:
        hits = 0
        for name, module in unet.named_modules():
            if name != t and not name.endswith("." + t):
                continue
            if isinstance(module, Conv1d):  # our wrapper: the weight is its inner conv's
                name, module = f"{name}.conv", module.conv
            if isinstance(module, (nn.Linear, nn.Conv1d)):
                found[name] = module
                hits += 1
            elif not isinstance(module, nn.Identity):  # a skip without a conv: nothing to adapt
                raise Jen1Error(f"LoRA target '{t}' names {name}, not a linear or conv layer")
        if not hits:
            raise Jen1Error(f"LoRA target '{t}' matches no linear or conv layer of the U-Net")
    return dict(sorted(found.items()))


def lora_delta(lora_a: Tensor, lora_b: Tensor, like: Tensor, scaling: float) -> Tensor:
    """``scaling * B @ A`` shaped and laid out like the weight ``like``.

    Args:
        lora_a: (r, fan_in); a conv's fan-in is ordered (K, C_in).
        lora_b: (C_out, r).
        like: the (C_out, C_in) or (C_out, C_in, K) weight the update is for.

    Returns:
        the update, with ``like``'s shape and strides.
    """
    d = (lora_b @ lora_a) * scaling  # (C_out, fan_in)
    if like.dim() == 3:
        c_out, c_in, k = like.shape
        if k == 1:
            d = d.view(c_out, c_in, 1)
        else:
            d = d.view(c_out, k, c_in).transpose(1, 2)  # (C_out, C_in, K), (K, C_in) memory
    d = d.to(like.dtype)
    if d.stride() != like.stride():  # another layout: copy, so the kernels see the same one
        d = torch.empty_like(like).copy_(d)
    return d


class LoRADelta(nn.Module):
    """The parametrisation ``W -> W + (alpha / r) B A`` of one layer's weight.

    Args:
        weight: the layer's (C_out, C_in[, K]) weight (its shape only).
        rank, scaling: r and alpha / r.
    """

    def __init__(self, weight: Tensor, rank: int, scaling: float) -> None:
        super().__init__()
        fan_in = weight[0].numel()
        self.scaling = scaling
        # A as nn.Linear's default init (kaiming-uniform, a = sqrt(5)), B zero, as in peft
        self.lora_A = nn.Parameter(torch.empty(rank, fan_in, device=weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(weight.shape[0], rank, device=weight.device))

    def forward(self, weight: Tensor) -> Tensor:
        return weight + lora_delta(self.lora_A, self.lora_B, weight, self.scaling)


def _key(name: str) -> str:
    return name.replace(".", "-")  # module names have no '-'; ModuleDict keys may not hold '.'


class Adapters(nn.Module):
    """The LoRA factors of one U-Net: a module of its own, so that optimiser, EMA and checkpoint
    hold the adapters alone (the layers of the U-Net reference the same modules).

    :meth:`state` speaks the exported names: ``{layer}.lora_A`` / ``.lora_B``.
    """

    def __init__(self, deltas: dict[str, LoRADelta]) -> None:
        super().__init__()
        self.layers = nn.ModuleDict({_key(n): d for n, d in deltas.items()})

    def state(self) -> dict[str, Tensor]:
        """{``layer.lora_A``: (r, fan_in), ``layer.lora_B``: (C_out, r)}, detached."""
        return state_from_dict(self.state_dict())


def state_from_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """An :class:`Adapters` ``state_dict()`` (an EMA shadow's too) in exported names."""
    prefix = "layers."
    out = {}
    for k, v in sd.items():
        key, _, param = k[len(prefix) :].rpartition(".")
        out[f"{key.replace('-', '.')}.{param}"] = v.detach()
    return out


def add_adapters(unet: nn.Module, spec: LoRASpec) -> Adapters:
    """Freeze ``unet`` and parametrise the weights of ``spec``'s layers with new adapters.

    Only the adapters' factors require gradients afterwards. B starts at zero, so the output
    is unchanged until they are trained.
    """
    layers = target_layers(unet, spec.targets)
    unet.requires_grad_(False)
    deltas = {}
    for name, layer in layers.items():
        if parametrize.is_parametrized(layer, "weight"):
            raise Jen1Error(f"{name} already has an adapter")
        delta = LoRADelta(layer.weight, spec.rank, spec.scaling)
        parametrize.register_parametrization(layer, "weight", delta)
        deltas[name] = delta
    return Adapters(deltas)


def remove_adapters(unet: nn.Module, *, merge: bool) -> None:
    """Take the parametrisations off; with ``merge`` the updates stay in the weights."""
    for module in unet.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=merge)


def adapter_parameters(unet: nn.Module) -> int:
    """The number of LoRA factor elements in ``unet`` (0 without adapters)."""
    return sum(
        p.numel() for m in unet.modules() if isinstance(m, LoRADelta) for p in (m.lora_A, m.lora_B)
    )


@torch.no_grad()
def merge(
    unet: nn.Module, state: dict[str, Tensor], spec: LoRASpec, scale: float = 1.0
) -> dict[str, Tensor]:
    """Add ``scale * (alpha / r) B A`` of an exported adapter ``state`` into ``unet``'s weights.

    Returns:
        {layer: its weight before the merge} (clones), to merge at another scale later.
    """
    layers = target_layers(unet, spec.targets)
    names = {k.rpartition(".")[0] for k in state}
    if names != set(layers):
        missing, extra = sorted(set(layers) - names), sorted(names - set(layers))
        raise Jen1Error(
            f"the adapter does not fit this U-Net: {len(missing)} layers missing, "
            f"{len(extra)} unexpected (first: {(missing + extra)[0]})"
        )
    base = {}
    for name, layer in layers.items():
        w = layer.weight
        a, b = state[f"{name}.lora_A"], state[f"{name}.lora_B"]
        if a.shape[1] != w[0].numel() or b.shape[0] != w.shape[0] or a.shape[0] != b.shape[1]:
            raise Jen1Error(
                f"the adapter's {name} factors {tuple(b.shape)} x {tuple(a.shape)} do not fit "
                f"its weight {tuple(w.shape)}"
            )
        base[name] = w.detach().clone()
        d = lora_delta(
            a.to(w.device, torch.float32),
            b.to(w.device, torch.float32),
            w.float(),
            spec.scaling * scale,
        )
        w.copy_(w.float() + d)
    return base
