"""``jen1 generate | inpaint | continue | remix``: the main job, from the command line."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jen1.errors import Jen1Error
from jen1.precision import PRECISIONS
from jen1.request import (
    MAX_BATCH,
    ContinueRequest,
    GenerateRequest,
    DEFAULT_STRENGTH,
    InpaintRequest,
    RemixRequest,
    Request,
    RequestError,
    SamplingParams,
    check_controls,
)

if TYPE_CHECKING:
    from jen1.conditioning.controls import Controls


def _common(p: argparse.ArgumentParser, default_out: str | None) -> None:
    if default_out is None:
        p.add_argument("-o", "--output", type=Path, required=True, help="output WAV path")
    else:
        p.add_argument(
            "-o", "--output", type=Path, default=Path(default_out), help="output WAV path"
        )
    p.add_argument("--seed", type=int, default=None, help="random seed (printed when not given)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    p.add_argument("--cfg", type=float, default=None, help="classifier-free guidance scale")
    p.add_argument(
        "--sampler",
        default=None,
        help="dpmpp_2m | ddim | euler | heun | lcm (a distilled student's; default: the model's)",
    )
    p.add_argument("--negative", default=None, help="negative prompt: steer away from this")
    p.add_argument(
        "--model", type=Path, default=None, help="model directory (default: shipped model)"
    )
    p.add_argument(
        "--adapter",
        type=Path,
        default=None,
        metavar="DIR",
        help="LoRA adapter to apply (jen1 export of a 'jen1 train diffusion --lora' run)",
    )
    p.add_argument(
        "--adapter-scale",
        type=float,
        default=None,
        metavar="S",
        help="how much of the adapter to apply, 0..2 (default 1: as trained)",
    )
    p.add_argument(
        "--fast",
        action="store_true",
        help="sample with the model's few-step student (MODEL/fast, made by 'jen1 train "
        "distill'): its steps and sampler, no guidance",
    )
    p.add_argument(
        "--batch",
        type=int,
        default=1,
        help="number of variations; outputs are numbered OUT-1.wav, OUT-2.wav, ...",
    )
    p.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="compute precision; auto = bf16 where the CPU/GPU has native bf16, else fp32",
    )
    c = p.add_argument_group("musical controls (models trained with unet.controls)")
    c.add_argument("--bpm", default=None, help="tempo in BPM, e.g. 120 (default: from the prompt)")
    c.add_argument("--key", default=None, help="key, e.g. 'D minor', 'F#', 'Bbm'")
    c.add_argument("--meter", default=None, help="time signature, e.g. 3/4")
    c.add_argument("--chords", default=None, help="chords per bar, e.g. 'Am F C G' or 'Am F | C G'")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--float", dest="float32", action="store_true", help="write 32-bit float WAV")
    p.add_argument("--no-progress", dest="progress", action="store_false")


def add_parser(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    g = sub.add_parser("generate", help="generate music from a text prompt", formatter_class=fmt)
    g.add_argument("prompt", help="what the music should be, e.g. 'calm piano ballad at 70 BPM'")
    g.add_argument("--seconds", type=float, default=10.0, help="duration")
    _common(g, "jen1-output.wav")
    g.set_defaults(func=run_generate)

    i = sub.add_parser("inpaint", help="regenerate a time range of a track", formatter_class=fmt)
    i.add_argument("input", type=Path, help="audio file")
    i.add_argument("prompt", nargs="?", default=None, help="optional text for the new part")
    i.add_argument("--start", type=float, required=True, help="gap start (seconds)")
    i.add_argument("--end", type=float, required=True, help="gap end (seconds)")
    _common(i, None)
    i.set_defaults(func=run_inpaint)

    c = sub.add_parser("continue", help="continue a track left to right", formatter_class=fmt)
    c.add_argument("input", type=Path, help="audio file")
    c.add_argument("prompt", nargs="?", default=None, help="optional text for the continuation")
    c.add_argument("--seconds", type=float, required=True, help="seconds to add")
    _common(c, None)
    c.set_defaults(func=run_continue)

    r = sub.add_parser(
        "remix", help="remix a track towards a prompt (audio-to-audio)", formatter_class=fmt
    )
    r.add_argument("input", type=Path, help="audio file (any length, rate and channels)")
    r.add_argument("prompt", nargs="?", default=None, help="what the remix should sound like")
    r.add_argument(
        "--strength",
        type=float,
        default=DEFAULT_STRENGTH,
        help="0 keeps the input (through the autoencoder), 1 ignores it",
    )
    _common(r, None)
    r.set_defaults(func=run_remix)


CLI_NAMES = {  # request fields -> the flags that set them, for error messages
    "steps": "--steps",
    "cfg_scale": "--cfg",
    "sampler": "--sampler",
    "seed": "--seed",
    "negative_prompt": "--negative",
    "seconds": "--seconds",
    "start": "--start",
    "end": "--end",
    "strength": "--strength",
    "adapter_scale": "--adapter-scale",
    "bpm": "--bpm",
    "key": "--key",
    "mode": "--key",
    "meter": "--meter",
    "chords": "--chords",
}


def _outputs(args: argparse.Namespace) -> list[Path]:
    if args.batch < 1 or args.batch > MAX_BATCH:
        raise Jen1Error(f"--batch must be between 1 and {MAX_BATCH}, got {args.batch}")
    from jen1.fsutil import check_output_path

    out: Path = args.output
    check_output_path(out, overwrite=True)  # the suffix, folder and kind of path, once
    paths = (
        [out]
        if args.batch == 1
        else [out.with_name(f"{out.stem}-{k + 1}{out.suffix}") for k in range(args.batch)]
    )
    for p in paths:
        check_output_path(p, overwrite=args.overwrite)
    return paths


def _request(
    args: argparse.Namespace, make: Callable[[SamplingParams, Controls | None], Request]
) -> Request:
    """The request from the flags (checked at once; errors name the flags, ``--cfg``)."""
    if args.adapter_scale is not None and args.adapter is None:
        raise Jen1Error("--adapter-scale needs --adapter DIR")
    if args.fast and args.adapter is not None:
        raise Jen1Error("--fast and --adapter: an adapter adapts the model's own U-Net")
    try:
        if args.adapter_scale is not None:  # its range (the pipeline loads at this scale)
            SamplingParams(adapter_scale=args.adapter_scale)
        sampling = SamplingParams(args.steps, args.cfg, args.sampler, args.seed, args.negative)
        typed = {"bpm": args.bpm, "key": args.key, "meter": args.meter, "chords": args.chords}
        return make(sampling, check_controls(typed))
    except RequestError as e:
        raise e.renamed(CLI_NAMES) from None


def _resolve(args: argparse.Namespace, req: Request, audio: Any = None) -> Request:
    """``req`` checked against the model's config (and input), before the model loads.

    The seed is drawn here when none was given, so that it can be printed.
    """
    from jen1.checkpoint import load_config_from_dir
    from jen1.models import resolve_model_dir

    if args.fast:  # the student's settings (steps, sampler, no guidance) are the defaults
        from jen1.student import fast_config

        cfg = fast_config(resolve_model_dir(args.model))
    else:
        cfg = load_config_from_dir(resolve_model_dir(args.model))
    if args.adapter is not None:  # another model's adapter is refused before the model loads
        from jen1.adapter import load_adapter

        load_adapter(args.adapter).check_base(cfg)
    try:
        req = req.resolve(cfg) if audio is None else req.resolve(cfg, tuple(audio.shape))
    except RequestError as e:
        raise e.renamed(CLI_NAMES) from None
    if audio is not None:
        from jen1.inference.estimate import complete_from_audio

        req = complete_from_audio(req, audio, cfg.autoencoder.sample_rate)
    if req.told is not None:  # a model with control conditioning: say what it is told
        print(f"controls: {req.told[0].describe()}", file=sys.stderr)
    return req


@contextlib.contextmanager
def _progress_bar(args: argparse.Namespace, desc: str):
    """A sampling-progress callback for the block (None with ``--no-progress``).

    The bar appears at the first finished step, so an error raised while the request is checked
    is the only line on stderr, and it is closed however the block ends, so a later error
    starts on a line of its own.
    """
    if not args.progress:
        yield None
        return
    from tqdm import tqdm

    bars = []

    def cb(i: int, total: int) -> None:
        if not bars:
            bars.append(
                tqdm(total=total, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True)
            )
        bar = bars[0]
        if bar.total != total:
            bar.total = total
        bar.n = i
        bar.refresh()

    try:
        yield cb
    finally:
        for bar in bars:
            bar.close()


def _pipeline(args: argparse.Namespace):
    from jen1.pipeline import Pipeline
    from jen1.precision import resolve_bf16

    scale = 1.0 if args.adapter_scale is None else args.adapter_scale
    return Pipeline.from_pretrained(
        args.model,
        bf16=resolve_bf16(args.precision),
        adapter=args.adapter,
        adapter_scale=scale,
        fast=args.fast,
    )


def _run(args: argparse.Namespace, req: Request, desc: str, audio=None):
    """Load the model and run ``req``: its output pieces (sampled before this returns)."""
    pipe = _pipeline(args)
    with _progress_bar(args, desc) as cb:
        return pipe.stream(req, audio, callback=cb)


def _save(args: argparse.Namespace, paths: list[Path], wav, seed: int, t0: float) -> int:
    from jen1.audio import save_audio

    subtype = "FLOAT" if args.float32 else "PCM_24"
    for p, w in zip(paths, wav):
        save_audio(p, w, overwrite=args.overwrite, subtype=subtype)
    seconds = wav.shape[-1] / 48000
    for p in paths:
        print(f"wrote {p} ({seconds:.2f} s, 48 kHz stereo)")
    print(f"seed {seed}; {time.perf_counter() - t0:.1f} s")
    return 0


def _save_stream(args: argparse.Namespace, paths: list[Path], pieces, seed: int, t0: float) -> int:
    """Write the pieces of a streamed result as they are decoded (flat memory for long audio)."""
    from jen1.audio import save_audio_stream

    subtype = "FLOAT" if args.float32 else "PCM_24"
    n = save_audio_stream(paths, pieces, overwrite=args.overwrite, subtype=subtype)
    for p in paths:
        print(f"wrote {p} ({n / 48000:.2f} s, 48 kHz stereo)")
    print(f"seed {seed}; {time.perf_counter() - t0:.1f} s")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    prompts = (args.prompt,) * args.batch
    req = _request(args, lambda s, c: GenerateRequest(prompts, args.seconds, s, c))
    paths = _outputs(args)
    req = _resolve(args, req)
    return _save_stream(args, paths, _run(args, req, "generate"), req.sampling.seed, t0)


def _load_input(path: Path, batch: int):
    """The input file as (batch, 2, L) float32 (the same audio for every variation)."""
    import torch

    from jen1.audio import load_audio

    return torch.from_numpy(load_audio(path))[None].expand(batch, -1, -1)


def run_inpaint(args: argparse.Namespace) -> int:
    import torch

    t0 = time.perf_counter()
    req = _request(
        args, lambda s, c: InpaintRequest(args.start, args.end, args.prompt, s, controls=c)
    )
    paths = _outputs(args)
    wav = _load_input(args.input, args.batch)
    req = _resolve(args, req, wav)
    out = torch.cat(list(_run(args, req, "inpaint", wav)), dim=-1)
    return _save(args, paths, out, req.sampling.seed, t0)


def run_continue(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    req = _request(args, lambda s, c: ContinueRequest(args.seconds, args.prompt, s, controls=c))
    paths = _outputs(args)
    wav = _load_input(args.input, args.batch)
    req = _resolve(args, req, wav)
    return _save_stream(args, paths, _run(args, req, "continue", wav), req.sampling.seed, t0)


def run_remix(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    req = _request(args, lambda s, c: RemixRequest(args.strength, args.prompt, s, c))
    paths = _outputs(args)
    wav = _load_input(args.input, args.batch)
    req = _resolve(args, req, wav)
    return _save_stream(args, paths, _run(args, req, "remix", wav), req.sampling.seed, t0)
