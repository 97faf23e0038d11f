"""The single ``acoustic-ssl`` command: each concern registers its own subcommands.

Every module in ``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds parsers whose
``func(args) -> int`` runs the command. The modules keep heavy imports inside their handlers so ``--help``
stays fast. Handlers that chain other commands (the demo) get ``args.build_parser`` to run them in-process,
so no module imports this one back.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

# Idle OpenMP threads that spin steal cores from data workers and neighbours (2-20x slower steps on small
# machines); set before torch is imported. Users can still choose ACTIVE in their environment.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from acoustic_ssl import __version__
from acoustic_ssl.allocator import keep_freed_memory
from acoustic_ssl.data import cli as data_cli
from acoustic_ssl.demo import cli as demo_cli
from acoustic_ssl.errors import AcousticSSLError, AcousticSSLWarning, printable_path
from acoustic_ssl.evaluation import cli as evaluation_cli
from acoustic_ssl.imaging import cli as imaging_cli
from acoustic_ssl.simulate import cli as simulate_cli
from acoustic_ssl.training import cli as training_cli

COMMAND_MODULES = (simulate_cli, imaging_cli, data_cli, training_cli, evaluation_cli, demo_cli)


def build_parser() -> argparse.ArgumentParser:
    """Assemble the top-level parser from every concern's ``register`` hook."""
    parser = argparse.ArgumentParser(
        prog="acoustic-ssl",
        description=(
            "Self-supervised audio representation learning with acoustic images. "
            "Pipeline: simulate/raw -> convert -> lists/stats -> train -> extract -> evaluate -> report; "
            "`acoustic-ssl demo` chains all of it on simulated data."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.set_defaults(build_parser=build_parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


_WORKER_TRACEBACK = "\nOriginal Traceback (most recent call last):\n"


def one_line(exc: BaseException) -> str:
    """The message of ``exc``. PyTorch re-raises an error of a DataLoader worker with the worker's whole
    traceback as its message; the last line of that is the original error, which is what the user needs."""
    text = str(exc)
    if _WORKER_TRACEBACK in text:
        _, sep, message = text.rstrip().splitlines()[-1].partition(": ")
        text = message if sep else text.rstrip().splitlines()[-1]
    return text


def describe_os_error(exc: OSError) -> str:
    """An ``OSError`` as one line that names the file: ``PATH: No space left on device``."""
    reason = exc.strerror or one_line(exc)
    names = [printable_path(n) for n in (exc.filename, exc.filename2) if n is not None]
    return f"{' -> '.join(names)}: {reason}" if names else reason


_python_format_warning = warnings.formatwarning


def _format_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    if issubclass(category, AcousticSSLWarning):
        return f"acoustic-ssl: warning: {message}\n"
    return _python_format_warning(message, category, filename, lineno, line)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; user errors become one line on stderr and exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    warnings.formatwarning = _format_warning  # our warnings as one line, without source location
    keep_freed_memory()
    if hasattr(sys.stdout, "reconfigure"):  # print paths that are not UTF-8 byte for byte, as ls does
        sys.stdout.reconfigure(errors="surrogateescape")
    try:
        return int(args.func(args) or 0)
    except AcousticSSLError as exc:
        print(f"acoustic-ssl {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # full disk, permissions, ...: whatever no stage turned into a message itself
        print(f"acoustic-ssl {args.command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"acoustic-ssl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
