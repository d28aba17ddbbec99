"""The ``jen1`` command line: thin subcommands over the library.

Every subcommand module in ``jen1.commands`` registers itself with ``add_parser(subparsers)``
and sets ``func(args) -> int``. User-facing errors (:class:`jen1.errors.Jen1Error`, bad
arguments) print one line ``error: ...`` on stderr and exit with code 2; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence

from jen1 import __version__
from jen1.commands import positive_int
from jen1.errors import Jen1Error

# Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "jen1.commands.generate",
    "jen1.commands.data",
    "jen1.commands.train",
    "jen1.commands.autoencoder",
    "jen1.commands.evaluate",
    "jen1.commands.serve",
    "jen1.commands.info",
)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line and exit with code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message}\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jen1",
        description="jen1: text-guided music generation, inpainting and continuation (JEN-1).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"jen1 {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch intra-op threads, at most (default: the cores other programs leave free, "
        "measured while jen1 runs)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:  # a missing module is an ImportError, never a quiet gap
        importlib.import_module(name).add_parser(sub)
    return parser


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C (a BaseException, so no ``except Exception`` stops
    it), removing temporary files on the way out."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


@contextlib.contextmanager
def _sigterm_unwinds():
    """While a command runs, SIGTERM raises :class:`Terminated` in the main thread instead of
    killing the process where it stands (which left hidden ``.NAME.*.tmp.wav`` files)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _setup_process(args: argparse.Namespace) -> None:
    """Process-wide switches live here and nowhere else."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; a subcommand's positionals may also come after its options.

    argparse alone takes the positionals of ``jen1 inpaint song.wav --start 4 --end 6.5
    "a drum fill" -o out.wav`` only up to the first option and rejects the prompt; the
    subcommand's own arguments are parsed again intermixed then (subcommands with subcommands
    of their own keep plain parsing).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extras = parser.parse_known_args(argv)
    command = getattr(args, "command", None)
    if not extras or command is None or command not in argv:
        return parser.parse_args(argv)  # nothing left over, or the usual error
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    try:
        own = sub.choices[command].parse_intermixed_args(argv[argv.index(command) + 1 :])
    except TypeError:  # a parser intermixed parsing does not support
        return parser.parse_args(argv)
    for key, value in vars(own).items():
        setattr(args, key, value)
    return args


def check_text_arguments(args: argparse.Namespace) -> None:
    """Raise a one-line :class:`Jen1Error` for an argument that is not valid UTF-8.

    Python keeps undecodable bytes of ``argv`` as lone surrogates, which fail much later (in
    the tokenizer, or printing the prompt) with a traceback.
    """
    for name, value in vars(args).items():
        for text in value if isinstance(value, list) else [value]:
            if not isinstance(text, str):
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                shown = text.encode("utf-8", "backslashreplace").decode("ascii", "replace")
                flag = name.replace("_", "-")
                raise Jen1Error(f"{flag} is not valid UTF-8 text: {shown[:60]}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    try:
        check_text_arguments(args)
    except Jen1Error as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    _setup_process(args)
    try:
        with _sigterm_unwinds():
            return int(args.func(args) or 0)
    except Terminated:
        sys.stderr.write("error: terminated\n")
        return 128 + signal.SIGTERM
    except Jen1Error as e:
        if args.debug:
            raise
        sys.stderr.write(f"error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except MemoryError:
        if args.debug:
            raise
        sys.stderr.write(
            "error: out of memory (try fewer --seconds, a smaller --batch or --steps)\n"
        )
        return 2
    except RuntimeError as e:
        if args.debug:
            raise
        text = str(e)
        if "out of memory" in text.lower() or "can't allocate memory" in text.lower():
            sys.stderr.write("error: out of memory (try fewer --seconds or a smaller --batch)\n")
            return 2
        raise


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
