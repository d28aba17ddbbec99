"""Our U-Net side by side with peer 1D U-Nets at matched parameter count and latent shape.

Peers (install with ``pip install --no-deps -r requirements-bench.txt``):

- audio-diffusion-pytorch's ``UNetV0`` (the Mousai backbone, composed from a-unet blocks), with
  time modulation and cross-attention to the same text tokens as ours. audio-diffusion-pytorch
  imports torchaudio at its top for a mel transform the U-Net does not use; this script puts an
  empty stand-in module in ``sys.modules`` for that import (said in the output). torchaudio stays
  out of the project.
  Its skips need a length divisible by 2 ** (levels - 1) (500 frames pass as they are; odd
  lengths are padded).
- diffusers' ``UNet1DModel`` (the Dance Diffusion U-Net): it has no text conditioning, so it runs
  without cross-attention (that favours it), and its resampling needs a length divisible by 8, so
  its input is padded to the next multiple (504 frames for 500).

Every model sees the same in-context input, cat[x_t, z * m, m] = 2 * latent_dim + 1 channels, and
predicts latent_dim channels. Each peer's width is searched so its parameter count is the closest
to ours. Forward passes run in float32, under bf16 autocast over float32 weights, and under
autocast with every Conv1d / Linear weight stored in bf16 once (``bf16 wts``: how inference
pipelines run, jen1's included; no per-call weight casts). On a CPU a last forward row
(``packed``) also prepacks those bf16 weights for oneDNN once, as jen1's pipeline runs its U-Net
(:mod:`jen1.diffusion.packing`): the peers' Linear and Conv1d layers are switched to the same
packed oneDNN kernels (:func:`prepack_generic`), in rounds with all, only the Linear, and none
of their layers packed, and each model keeps its fastest round (peers at their best); every
packed output is checked against the unpacked one.
``--compile`` adds a row of every model compiled for inference by inductor with freezing
(its weights folded in and prepacked by inductor).
Timings interleave the models (one
call of each per round) so a noisy machine slows them alike; ratios are peer time / our time
(above 1: ours is faster). Training steps use fused AdamW for every model.

    python benchmarks/bench_peers.py [--config small] [--seconds 10] [--compile] [--json PATH]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from jen1.conditioning.conditions import Conditions
from jen1.config import load_config
from jen1.diffusion import packing
from jen1.diffusion.unet import UNet1D, count_parameters
from jen1.precision import cast_matmul_weights

Forward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _import_unetv0() -> tuple[Callable[..., nn.Module], bool]:
    """Import audio-diffusion-pytorch's ``UNetV0``; returns it and whether torchaudio was stubbed.

    The package imports torchaudio at its top only for a mel transform the U-Net does not use.
    Without torchaudio an empty stand-in serves that one import and is removed right after, so
    other libraries (diffusers checks for torchaudio) never see it.
    """
    try:
        import torchaudio  # noqa: F401

        stubbed = False
    except ImportError:
        stubbed = True
    if not stubbed:
        from audio_diffusion_pytorch import UNetV0

        return UNetV0, False
    stub = types.ModuleType("torchaudio")
    stub.transforms = types.ModuleType("torchaudio.transforms")  # type: ignore[attr-defined]
    sys.modules["torchaudio"] = stub
    sys.modules["torchaudio.transforms"] = stub.transforms  # type: ignore[attr-defined]
    try:
        from audio_diffusion_pytorch import UNetV0
    finally:
        del sys.modules["torchaudio"], sys.modules["torchaudio.transforms"]
    return UNetV0, True


def _widths(base: int, mults: tuple[float, ...], steps: tuple[int, ...] | None = None) -> list[int]:
    """Level widths ``base * mult``, each rounded to its step (8 unless ``steps`` says)."""
    steps = steps or (8,) * len(mults)
    return [max(s, int(round(base * m / s)) * s) for m, s in zip(mults, steps)]


def _match(build: Callable[[int], nn.Module], target: int, lo: int = 16, hi: int = 1024) -> int:
    """The base width (multiple of 8) whose model's parameter count is closest to ``target``."""
    best, best_err = lo, math.inf
    for base in range(lo, hi + 1, 8):
        n = count_parameters(build(base))
        if abs(n - target) < best_err:
            best, best_err = base, abs(n - target)
        if n > target:
            break
    return best


class _Model:
    """One contender: a module and a forward ``(x, t, text_emb) -> prediction``."""

    def __init__(self, name: str, module: nn.Module, forward: Forward, note: str, frames: int):
        self.name, self.module, self.forward, self.note, self.frames = (
            name,
            module,
            forward,
            note,
            frames,
        )

    @property
    def params(self) -> int:
        return count_parameters(self.module)


def build_ours(cfg, latent_dim: int, text_dim: int, frames: int) -> _Model:
    unet = UNet1D(cfg.unet, latent_dim, text_dim)

    def fwd(x: torch.Tensor, t: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[0], latent_dim
        cond = Conditions(
            text_emb=emb,
            text_mask=torch.ones(emb.shape[:2], dtype=torch.bool, device=x.device),
            known=x[:, c : 2 * c],
            mask=x[:, 2 * c :],
            drop_text=torch.zeros(b, dtype=torch.bool, device=x.device),
        )
        return unet(x, t, cond, causal=False)

    note = f"channels {tuple(cfg.unet.channels)}, attention {tuple(cfg.unet.attn_levels)}"
    return _Model("jen1 UNet1D", unet, fwd, note, frames)


def build_unetv0(cfg, latent_dim: int, text_dim: int, frames: int, target: int) -> _Model:
    UNetV0, stubbed = _import_unetv0()

    levels = len(cfg.unet.channels)
    mults = tuple(ch / cfg.unet.channels[0] for ch in cfg.unet.channels)
    attn = [int(a) for a in cfg.unet.attn_levels]
    attn[-1] = 1  # ours always attends at the coarsest level (the mid block)
    heads = max(1, cfg.unet.channels[1 if levels > 1 else 0] // cfg.unet.head_dim)

    def build(base: int) -> nn.Module:
        return UNetV0(
            dim=1,
            in_channels=2 * latent_dim + 1,
            out_channels=latent_dim,
            channels=_widths(base, mults),
            factors=[1] + [2] * (levels - 1),
            items=[cfg.unet.num_res_blocks] * levels,
            attentions=attn,
            cross_attentions=attn,
            attention_features=cfg.unet.head_dim,
            attention_heads=heads,
            embedding_features=text_dim,
            modulation_features=cfg.unet.time_dim,
        )

    base = _match(build, target)
    net = build(base)
    multiple = 2 ** (levels - 1)  # its skips need a length divisible by every down factor
    padded = math.ceil(frames / multiple) * multiple

    def fwd(x: torch.Tensor, t: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != padded:
            x = F.pad(x, (0, padded - x.shape[-1]))
        return net(x, time=t, embedding=emb)[..., :frames]

    note = f"channels {tuple(_widths(base, mults))}, {heads} heads, cross-attention"
    if padded != frames:
        note += f", padded to {padded}"
    if stubbed:
        note += ", torchaudio import stubbed"
    return _Model("audio-diffusion-pytorch UNetV0", net, fwd, note, padded)


def build_diffusers(cfg, latent_dim: int, frames: int, target: int) -> _Model:
    from diffusers import UNet1DModel

    levels = len(cfg.unet.channels)
    mults = tuple(ch / cfg.unet.channels[0] for ch in cfg.unet.channels)
    attn = list(cfg.unet.attn_levels)
    down = ["DownBlock1DNoSkip"] + [
        "AttnDownBlock1D" if a else "DownBlock1D" for a in attn[1:]
    ]  # the first block must be NoSkip: it concatenates the time embedding channels
    up = ["AttnUpBlock1D" if a else "UpBlock1D" for a in reversed(attn[1:])] + ["UpBlock1DNoSkip"]
    time_ch = 16
    # its self-attention uses 32-channel heads, and an attending up block works at the width of
    # the level below it: every width must be a multiple of 32
    steps = (32,) * levels

    def build(base: int) -> nn.Module:
        return UNet1DModel(
            sample_size=frames,
            in_channels=2 * latent_dim + 1,
            out_channels=latent_dim,
            extra_in_channels=time_ch,
            time_embedding_type="fourier",
            time_embedding_dim=time_ch,
            flip_sin_to_cos=True,
            use_timestep_embedding=False,
            block_out_channels=tuple(_widths(base, mults, steps)),
            down_block_types=tuple(down),
            up_block_types=tuple(up),
            mid_block_type="UNetMidBlock1D",
            out_block_type=None,
            act_fn=None,
            layers_per_block=cfg.unet.num_res_blocks,
        )

    base = _match(build, target)
    net = build(base)
    multiple = 2**levels
    padded = math.ceil(frames / multiple) * multiple

    def fwd(x: torch.Tensor, t: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != padded:
            x = F.pad(x, (0, padded - x.shape[-1]))
        return net(x, t, return_dict=False)[0][..., :frames]

    widths = tuple(_widths(base, mults, steps))
    note = f"channels {widths}, no text conditioning, padded to {padded}"
    return _Model("diffusers UNet1DModel", net, fwd, note, padded)


def prepack_generic(module: nn.Module, convs: bool = True) -> int:
    """Run every ``nn.Linear`` / ``nn.Conv1d`` of a peer on oneDNN-prepacked bf16 weights.

    The same treatment jen1's pipeline gives its own U-Net (:mod:`jen1.diffusion.packing`), for
    modules that do not know about packing: each layer's ``forward`` is replaced on the instance
    by a call to oneDNN's packed kernel (a Conv1d on (B, C, T) runs as a packed 2D convolution
    over (B, C, 1, T)); layers it cannot pack (string padding, other padding modes) keep their
    own forward. The weights must already be bf16. Returns the number of layers packed.
    """
    count = 0
    for m in module.modules():
        if isinstance(m, nn.Linear) and m.weight.dtype == torch.bfloat16:
            if packing.pack_for_inference(m):
                m.forward = lambda x, m=m: packing.linear(m, x)  # type: ignore[method-assign]
                count += 1
        elif (
            convs
            and isinstance(m, nn.Conv1d)
            and m.weight.dtype == torch.bfloat16
            and m.padding_mode == "zeros"
            and not isinstance(m.padding, str)
        ):
            b = None if m.bias is None else m.bias.detach().to(torch.bfloat16)
            p = packing.Packed(
                None, b, torch.bfloat16, 0, 0, source=m.weight.detach(), groups=m.groups
            )
            geometry = (m.padding[0], m.stride[0], m.dilation[0])

            def conv(x: torch.Tensor, p=p, geometry=geometry) -> torch.Tensor:
                pad, stride, dilation = geometry
                x = x.to(torch.bfloat16).unsqueeze(2)  # (B, C, 1, T), then channels-last:
                x = x.contiguous(memory_format=torch.channels_last)  # no copy in a conv chain
                w = p.conv_weight(tuple(x.shape), pad, stride, dilation)
                assert w is not None, "one input size per layer in this benchmark"
                y = torch.ops.mkldnn._convolution_pointwise(
                    x, w, p.bias, [0, pad], [1, stride], [1, dilation], p.groups, "none", [], ""
                )
                return y.squeeze(2)

            m.forward = conv  # type: ignore[method-assign]
            count += 1
    return count


def interleaved_ms(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int, sync: Callable[[], None]
) -> dict[str, float]:
    """Median wall time (ms) of each function, calling them round-robin."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--config", default="small", help="preset name or config JSON")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--batch", type=int, default=2, help="forward batch (2 = one CFG pair)")
    parser.add_argument("--train-batch", type=int, default=4)
    parser.add_argument("--text-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--compile", action="store_true", help="add torch.compile forward rows")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--json", type=Path, default=None, help="write results here")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but CUDA is not available")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    cfg = load_config(args.config)
    c, d = cfg.autoencoder.latent_dim, cfg.text.dim
    frames = math.ceil(args.seconds * cfg.autoencoder.frame_rate)

    ours = build_ours(cfg, c, d, frames)
    target = ours.params
    models = [
        ours,
        build_unetv0(cfg, c, d, frames, target),
        build_diffusers(cfg, c, frames, target),
    ]
    for m in models:
        m.module.to(device)
        with torch.no_grad():  # zero-initialised layers would make some kernels trivially cheap
            for p in m.module.parameters():
                p.normal_(0.0, 0.02)

    def inputs(b: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(1)
        x = torch.randn(b, 2 * c + 1, frames, generator=g).to(device)
        t = torch.rand(b, generator=g).to(device)
        emb = torch.randn(b, args.text_tokens, d, generator=g).to(device)
        return x, t, emb

    bf16 = lambda: torch.autocast(device.type, torch.bfloat16)  # noqa: E731
    x, t, emb = inputs(args.batch)
    res: dict[str, object] = {
        "config": args.config,
        "frames": frames,
        "batch": args.batch,
        "train_batch": args.train_batch,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "models": {m.name: {"params": m.params, "note": m.note} for m in models},
    }

    for m in models:
        m.module.eval()
    with torch.inference_mode():
        fwd = {m.name: (lambda m=m: m.forward(x, t, emb)) for m in models}
        for m in models:  # every model must give the latent shape back
            out = m.forward(x, t, emb)
            if tuple(out.shape) != (args.batch, c, frames):
                raise SystemExit(f"{m.name} returned {tuple(out.shape)}")
        for m in models:  # FLOPs per forward: what each spends its parameters on
            counter = FlopCounterMode(display=False)
            with counter:
                m.forward(x, t, emb)
            res["models"][m.name]["forward_gflop"] = counter.get_total_flops() / 1e9
        fp32 = interleaved_ms(fwd, args.repeats, 2, sync)
        with bf16():
            bf = interleaved_ms(fwd, args.repeats, 2, sync)
        # as inference pipelines run: matmul weights stored in bf16 once (every model alike)
        originals = {m.name: copy.deepcopy(m.module.state_dict()) for m in models}
        for m in models:
            cast_matmul_weights(m.module, torch.bfloat16)
        with bf16():
            bw = interleaved_ms(fwd, args.repeats, 2, sync)
            plain_out = {m.name: m.forward(x, t, emb).float() for m in models}
        # and with those weights prepacked for oneDNN once, as jen1's pipeline runs its U-Net
        # (CPU only): ours through its own packing in every round; the peers' layers through
        # the same kernels, in three rounds (every layer packed, only the Linear layers, none)
        # of which each peer keeps its fastest: a peer is never slowed by a packing it does
        # not profit from
        packed: dict[str, float] = {}
        # (not on CPUs whose oneDNN has no bf16 kernels, e.g. AVX2-only: nothing packs there)
        if device.type == "cpu" and packing.packing_supported(torch.bfloat16):
            for variant in ("all", "linear", "none"):
                for m in models:
                    if m is ours:
                        n = packing.pack_for_inference(m.module)
                    elif variant == "none":
                        continue
                    else:
                        n = prepack_generic(m.module, convs=variant == "all")
                    res["models"][m.name][f"packed_layers_{variant}"] = n
                with bf16():
                    for m in models:  # packed kernels must compute the same function
                        out = m.forward(x, t, emb).float()
                        ref = plain_out[m.name]
                        err = ((out - ref).norm() / ref.norm().clamp_min(1e-12)).item()
                        if not err < 0.05:
                            raise SystemExit(f"{m.name}: packed output differs by {err:.1%}")
                        res["models"][m.name]["packed_rel_diff"] = err
                    ms = interleaved_ms(fwd, args.repeats, 2, sync)
                for m in models:
                    packing.unpack(m.module)
                    for layer in m.module.modules():
                        layer.__dict__.pop("forward", None)  # the peers' own forward again
                    if ms[m.name] < packed.get(m.name, math.inf):
                        packed[m.name] = ms[m.name]
                        res["models"][m.name]["packed_variant"] = variant
        for m in models:
            m.module.float().load_state_dict(originals[m.name])
    for m in models:
        res["models"][m.name].update(
            forward_fp32_ms=fp32[m.name],
            forward_bf16_ms=bf[m.name],
            forward_bf16_weights_ms=bw[m.name],
        )
        if packed:
            res["models"][m.name]["forward_bf16_packed_ms"] = packed[m.name]

    xt, tt, et = inputs(args.train_batch)
    target_v = torch.randn(args.train_batch, c, frames, device=device)
    steps: dict[str, Callable[[], None]] = {}
    for m in models:
        m.module.train()
        opt = torch.optim.AdamW(m.module.parameters(), lr=1e-5, fused=True)

        def step(m: _Model = m, opt: torch.optim.Optimizer = opt) -> None:
            with bf16():
                loss = F.mse_loss(m.forward(xt, tt, et).float(), target_v)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        steps[m.name] = step
    tr = interleaved_ms(steps, max(args.repeats // 2, 3), 1, sync)
    for m in models:
        res["models"][m.name]["train_step_bf16_ms"] = tr[m.name]

    if args.compile:
        # inference compiles with inductor's freezing: weights folded in as constants and
        # prepacked by inductor (measured on our U-Net, 2 cores: 24-25 ms against 31-33 ms
        # eager with packed weights; without freezing compiled was slower than eager)
        compiled: dict[str, Callable[[], object]] = {}
        for m in models:
            m.module.eval().requires_grad_(False)
            start = time.perf_counter()
            m.module.compile(options={"freezing": True})
            with torch.inference_mode(), bf16():
                m.forward(x, t, emb)
            sync()
            res["models"][m.name]["compile_s"] = time.perf_counter() - start
            compiled[m.name] = lambda m=m: m.forward(x, t, emb)
        with torch.inference_mode(), bf16():
            cm = interleaved_ms(compiled, args.repeats, 1, sync)
        for m in models:
            res["models"][m.name]["forward_bf16_compiled_ms"] = cm[m.name]

    base = res["models"][ours.name]
    for m in models[1:]:
        r = res["models"][m.name]
        r["ours_speedup"] = {
            k: r[k] / base[k]
            for k in (
                "forward_fp32_ms",
                "forward_bf16_ms",
                "forward_bf16_weights_ms",
                "forward_bf16_packed_ms",
                "train_step_bf16_ms",
            )
            + (("forward_bf16_compiled_ms",) if args.compile else ())
            if k in r
        }

    print(
        f"U-Net side by side: config {args.config}, {args.seconds:g} s = {frames} latent frames, "
        f"{2 * c + 1} -> {c} channels, forward batch {args.batch}, train batch "
        f"{args.train_batch}, {res['threads']} threads on {device}, median of {args.repeats}, "
        f"torch {torch.__version__}"
    )
    stubbed = "stubbed" in models[1].note
    res["torchaudio_stubbed"] = stubbed
    if stubbed:
        print("  (torchaudio is not installed: an empty stand-in module served audio-diffusion-")
        print("   pytorch's top-level import; its U-Net does not use it)")
    has_packed = "forward_bf16_packed_ms" in base
    cols = ["params", "fwd GFLOP", "fwd fp32 ms", "fwd bf16 ms", "bf16 wts ms"]
    cols += ["packed ms"] if has_packed else []
    cols += ["train bf16 ms"]
    if args.compile:
        cols += ["fwd compiled ms", "compile s"]
    width = max(len(m.name) for m in models)
    print(f"  {'model':<{width}}  " + "  ".join(f"{h:>15}" for h in cols))
    for m in models:
        r = res["models"][m.name]
        vals = [
            f"{r['params'] / 1e6:.2f} M",
            f"{r['forward_gflop']:.2f}",
            f"{r['forward_fp32_ms']:.1f}",
            f"{r['forward_bf16_ms']:.1f}",
            f"{r['forward_bf16_weights_ms']:.1f}",
        ]
        vals += [f"{r['forward_bf16_packed_ms']:.1f}"] if has_packed else []
        vals += [f"{r['train_step_bf16_ms']:.0f}"]
        if args.compile:
            vals += [f"{r['forward_bf16_compiled_ms']:.1f}", f"{r['compile_s']:.0f}"]
        print(f"  {m.name:<{width}}  " + "  ".join(f"{v:>15}" for v in vals))
    if has_packed:
        best = {
            m.name: res["models"][m.name].get("packed_variant", "?")
            for m in models
            if m is not ours
        }
        print(
            "  packed: bf16 weights prepacked for oneDNN (ours as jen1's pipeline runs it; each "
            "peer's fastest of packing all / only Linear / none of its layers: "
            + ", ".join(f"{k.split()[0]} {v}" for k, v in best.items())
            + ")"
        )
    print("  our throughput / peer throughput (above 1: ours is faster):")
    for m in models[1:]:
        sp = res["models"][m.name]["ours_speedup"]
        parts = [f"{k.removesuffix('_ms').replace('_', ' ')} {v:.2f}x" for k, v in sp.items()]
        print(f"    vs {m.name}: " + ", ".join(parts))
    for m in models:
        print(f"  {m.name}: {m.note}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
