"""What every command line (run_recbole_maskgr.py, run_hyper.py) does around its work: RecBole's
noise hidden, and a failure or Ctrl-C reported as one line instead of a traceback."""

from __future__ import annotations

import sys

INTERRUPTED_EXIT = 130  # the shell's code for a process stopped by Ctrl-C (128 + SIGINT)


def report(message: str, notes=()) -> None:
    print(f"error: {message}", file=sys.stderr)
    for note in notes:  # e.g. which file continues the run
        print(note, file=sys.stderr)


def script_main(parse_args, body, argv=None) -> int:
    """A command line's main: `parse_args(argv)` -> (args, overrides) (argparse exits on its own errors),
    then `body(args, overrides, argv)` under `run_cli`."""
    argv = sys.argv[1:] if argv is None else argv
    args, overrides = parse_args(argv)
    return run_cli(lambda: body(args, overrides, argv))


def run_cli(body) -> int:
    """`body()` -> its exit status; our errors -> one `error:` line and 2; Ctrl-C -> one line and 130."""
    from recbole_maskgr.compat import quiet_recbole_warnings
    from recbole_maskgr.config import ConfigError
    from recbole_maskgr.trainer.checkpoint import CheckpointError

    quiet_recbole_warnings()
    try:
        return body()
    except (ConfigError, CheckpointError, ValueError) as err:  # our checks raise these with the fix
        report(str(err), getattr(err, "__notes__", []))
        return 2
    except KeyboardInterrupt as err:
        hint = " ".join(getattr(err, "__notes__", [])) or "No checkpoint of this run was written yet."
        report(f"interrupted (Ctrl-C). {hint}")
        return INTERRUPTED_EXIT
