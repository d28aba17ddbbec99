"""``jen1 serve``: the web UI and the HTTP API on one loaded model."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from jen1.errors import Jen1Error


def add_parser(sub: argparse._SubParsersAction) -> None:
    from jen1.web.settings import ServerSettings

    d = ServerSettings()  # the defaults live there
    p = sub.add_parser(
        "serve",
        help="web UI and HTTP API (needs the 'web' extra: gradio)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Serve the Generate / Inpaint / Continue web UI at / and the HTTP API at "
        "/api (POST /api/generate -> WAV). Binds to the loopback address only, "
        "unless --host says otherwise.",
    )
    p.add_argument(
        "--host",
        default=d.host,
        help="address to bind (0.0.0.0 exposes the server to your network)",
    )
    p.add_argument("--port", type=int, default=d.port, help="TCP port (0: any free port)")
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="DIR",
        help="model directory made by 'jen1 export' (None: the shipped model)",
    )
    p.add_argument(
        "--adapter",
        type=Path,
        default=None,
        metavar="DIR",
        help="LoRA adapter to apply (jen1 export of a LoRA run); requests may set its scale",
    )
    p.add_argument(
        "--adapter-scale",
        type=float,
        default=1.0,
        metavar="S",
        help="the adapter's scale when a request gives none, 0..2",
    )
    p.add_argument(
        "--fast",
        action="store_true",
        help="serve the model's few-step student (MODEL/fast, made by 'jen1 train distill')",
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=d.max_queue,
        metavar="N",
        help="requests that may wait; more are refused with a 'busy' message",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=d.concurrency,
        metavar="N",
        help="model calls run at the same time",
    )
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=d.max_upload_mb,
        metavar="MB",
        help="largest upload accepted (MiB)",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        default=d.max_seconds,
        metavar="S",
        help="longest audio generated, added or accepted as input",
    )
    p.add_argument(
        "--upload-timeout",
        type=float,
        default=d.upload_timeout,
        metavar="S",
        help="seconds an HTTP API request's body may take to arrive",
    )
    p.set_defaults(func=run_serve)


def _check_host(host: str) -> None:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise Jen1Error(
                f"--host must be an IP address such as 127.0.0.1 or 0.0.0.0, got {host!r}"
            ) from None
        return
    if not addr.is_loopback:
        sys.stderr.write(
            f"warning: serving on {host}: anyone who can reach this machine can use the model\n"
        )


def run_serve(args: argparse.Namespace) -> int:
    from jen1.web.settings import ServerSettings

    _check_host(args.host)
    if args.fast and args.adapter is not None:
        raise Jen1Error("--fast and --adapter: an adapter adapts the model's own U-Net")
    if args.fast:  # a model without a student is refused before anything loads
        from jen1.models import resolve_model_dir
        from jen1.student import fast_config

        fast_config(resolve_model_dir(args.model))
    settings = ServerSettings(
        host=args.host,
        port=args.port,
        max_queue=args.max_queue,
        concurrency=args.concurrency,
        max_upload_mb=args.max_upload_mb,
        max_seconds=args.max_seconds,
        upload_timeout=args.upload_timeout,
    )
    from jen1.optional import require

    require("gradio", "jen1 serve")
    from jen1.pipeline import Pipeline
    from jen1.web.server import check_port, serve

    check_port(settings.host, settings.port)  # before the model loads
    if args.adapter is None and args.adapter_scale != 1.0:
        raise Jen1Error("--adapter-scale needs --adapter DIR")
    pipeline = Pipeline.from_pretrained(  # once per server
        args.model, adapter=args.adapter, adapter_scale=args.adapter_scale, fast=args.fast
    )
    serve(pipeline, settings)
    return 0
