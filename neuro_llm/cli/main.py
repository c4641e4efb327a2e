"""``neuro-llm``: info, eval, simulate, energy, plot.

Every command takes ``--config FILE`` (YAML/JSON of its options, flags override it; see
:mod:`neuro_llm.cli.runconfig`) and records the resolved configuration and the package version in what it
writes. Inputs are checked before any long work starts; user mistakes end in one line and exit status 2,
an interrupt (Ctrl-C) in exit status 130 with no output file left behind (outputs are written to a
temporary name and renamed when whole).

This module parses (``--config`` included), dispatches and maps errors to exit statuses; the parser is
:mod:`neuro_llm.cli.parser`, the checks before any work :mod:`neuro_llm.cli.checks`, loading and converting
the model :mod:`neuro_llm.cli.loading`, the model commands :mod:`neuro_llm.cli.commands` (``generate``'s own
options: :mod:`neuro_llm.cli.generate`).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from neuro_llm.cli.checks import _check_inputs, _spike_options  # noqa: F401  (_spike_options: tests read it here)
from neuro_llm.cli.commands import COMMANDS, _analysis_command, _label  # noqa: F401
from neuro_llm.cli.loading import _provenance, _stamp, _streamed
from neuro_llm.cli.parser import SPIKE_FIELDS, _version, build_parser  # noqa: F401
from neuro_llm.core.errors import (  # noqa: F401
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    USER_ERRORS,
)


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``argv`` with its ``--config`` file's values as the command's defaults."""
    from neuro_llm.cli.runconfig import (
        apply_config,
        find_config_argument,
        read_config_file,
    )

    command, config = find_config_argument(argv)
    if config is not None and command in parser.commands:
        try:
            apply_config(parser.commands[command], command, read_config_file(config), config)
        except USER_ERRORS as err:
            parser.commands[command].exit(EXIT_USAGE, f"neuro-llm {command}: error: {err}\n")
    args = parser.parse_args(argv)
    args.command_parser = parser.commands[args.command]
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = _parse(parser, sys.argv[1:] if argv is None else list(argv))   # --help ends here: no torch imported

    from neuro_llm import distributed

    def say(message: str) -> None:   # under torchrun rank 0 speaks for every rank
        if distributed.is_main():
            print(message, file=sys.stderr)

    try:
        distributed.init(getattr(args, "device", "cpu"))   # under torchrun only
        with _main_stdout(distributed):
            _check_inputs(args)
            result = COMMANDS[args.command](args) if args.command in COMMANDS else _analysis_command(args)
            distributed.agree()   # every rank finished: only now is anything written (by rank 0)
            if getattr(args, "json", None) and distributed.is_main():
                from neuro_llm.core.provenance import write_result
                write_result(args.json, {**_provenance(args), **result},
                             **_stamp(args, (result.get("config") or {}).get("seed")))
            elif args.command == "info":
                print(json.dumps(result, indent=2))
    except distributed.RankFailed as err:   # another rank failed; it told every rank
        say(f"neuro-llm {args.command}: error: {_one_line(err)}")
        return err.exit_code
    except KeyboardInterrupt as err:
        distributed.announce(err)
        say(f"neuro-llm {args.command}: interrupted; no output was left half-written")
        return EXIT_INTERRUPTED
    except USER_ERRORS as err:
        distributed.announce(err)
        say(f"neuro-llm {args.command}: error: {_one_line(err)}")
        return EXIT_USAGE
    except torch_out_of_memory() as err:   # the model (or its activations) does not fit the chosen device
        distributed.announce(err)
        say(f"neuro-llm {args.command}: error: {_out_of_memory_message(args)}")
        return EXIT_USAGE   # a placement the user chose; the message says what would work
    except OSError as err:  # disk full, I/O errors: not the user's mistake, still one line
        distributed.announce(err)
        say(f"neuro-llm {args.command}: error: {_one_line(err)}")
        return EXIT_FAILURE
    except BaseException as err:   # a bug: its traceback, after the other ranks were told
        distributed.announce(err)
        raise
    finally:
        distributed.shutdown()
    return 0


def torch_out_of_memory() -> type:
    import torch
    return getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


def _out_of_memory_message(args) -> str:
    """What would work instead, when the model does not fit ``--device``."""
    device = getattr(args, "device", "cpu")
    hints = []
    if getattr(args, "dtype", None) in (None, "float32"):
        hints.append("--dtype bfloat16 (half the weights)")
    if args.command == "eval":
        hints.append("a shorter --seqlen")
        if not _streamed(args):
            hints.append("--stream (the blocks stay in host memory and pass through the device one at a time)")
    hints.append("`neuro-llm simulate`, which streams one block at a time through the device")
    if str(device).startswith("cuda"):
        hints.append("--device cpu")
    return f"out of memory on {device}: the model or its activations do not fit; try " + ", or ".join(hints)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


@contextlib.contextmanager
def _main_stdout(distributed):
    """Silence ``print`` on torchrun ranks other than 0 (their stderr stays open for real failures)."""
    if distributed.is_main():
        yield
        return
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


if __name__ == "__main__":
    sys.exit(main())
