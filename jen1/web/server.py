"""One server process: the HTTP API at ``/api`` and the Gradio UI at ``/``, on uvicorn."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

from jen1.errors import Jen1Error
from jen1.web.settings import ServerSettings


def create_server_app(pipeline: Any, settings: ServerSettings, results_dir: str | Path):
    """The API routes and the UI mounted on one FastAPI app, sharing one model runner.

    Args:
        pipeline: a loaded :class:`jen1.pipeline.Pipeline`.
        settings: limits, queue and binding.
        results_dir: where the UI writes result WAVs (kept at ``settings.keep_results`` files).

    Returns:
        ``fastapi.FastAPI`` ready for uvicorn.
    """
    import gradio as gr
    from fastapi import FastAPI

    from jen1.web.api import build_api
    from jen1.web.app import build_app
    from jen1.web.jobs import ModelRunner
    from jen1.web.results import ResultStore

    runner = ModelRunner(pipeline, settings)
    store = ResultStore(results_dir, settings.keep_results)
    app = FastAPI(title="jen1", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(build_api(runner))  # before the UI, which is mounted at "/"
    blocks = build_app(pipeline, settings, runner=runner, store=store)
    return gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        server_name=settings.host,
        server_port=settings.port,
        footer_links=["api"],
        run_history=False,
        allowed_paths=[str(Path(results_dir).resolve())],
        max_file_size=settings.max_upload_bytes,
        show_error=True,
        ssr_mode=False,
        mcp_server=False,
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one the system picks); a one-line
    :class:`Jen1Error` when it cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        s.listen(2048)
    except OSError as e:
        s.close()
        raise Jen1Error(
            f"cannot listen on {host}:{port} ({e.strerror}); pass another --port or --host"
        ) from None
    return s


def check_port(host: str, port: int) -> None:
    """Raise a one-line :class:`Jen1Error` when ``host:port`` cannot be bound."""
    bind_socket(host, port).close()


def serve(pipeline: Any, settings: ServerSettings) -> None:
    """Serve until interrupted (Ctrl-C). Result files live in a temporary directory that is
    removed on exit, unless ``settings.results_dir`` is given. ``settings.port`` 0 binds a
    free port; the line printed on start names the port actually bound."""
    import uvicorn

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # this process is the server
    sock = bind_socket(settings.host, settings.port)
    settings = dataclasses.replace(settings, port=sock.getsockname()[1])  # the port bound
    tmp = None if settings.results_dir else tempfile.mkdtemp(prefix="jen1-web-")
    results_dir = settings.results_dir or tmp
    # uvicorn re-raises SIGTERM after its graceful shutdown; exit through Python instead, so
    # that the cleanup below runs
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_quietly) if main else None
    try:
        app = create_server_app(pipeline, settings, results_dir)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=3,
        )
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        print(
            f"jen1 web UI on http://{host}:{settings.port}/  (HTTP API: POST /api/generate; "
            "Ctrl-C stops)",
            flush=True,
        )
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C is how a server is meant to stop
        print("stopped", flush=True)
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGTERM, previous)
        sock.close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _exit_quietly(signum: int, frame: Any) -> None:
    raise SystemExit(0)
