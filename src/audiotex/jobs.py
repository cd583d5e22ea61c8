"""What every workflow job script shares: a log that says what the job does, how long it took, and why
it failed, with user errors reduced to one line and a non-zero exit status."""
from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Any, Callable, TextIO

from .errors import AudiotexError


def run_job(log_path: str | os.PathLike, what: str, work: Callable[[TextIO], str | None],
            threads: int | None = None) -> int:
    """Run ``work(log)`` as one workflow job; return the exit status for ``sys.exit``.

    Args:
        log_path: the rule's ``log:`` file (rewritten).
        what: one line saying what the job does, logged first.
        work: does the job; may write progress to the log it is given; returns a summary line (or None).
        threads: torch threads to use (the rule's ``threads:``), if given.

    An :class:`AudiotexError` (bad input: the message names the file or row) is written to the log and to
    stderr as one line, and the status is 1, so that with ``--keep-going`` other rows go on. Any other
    exception is a bug: its traceback goes to the log and it propagates.
    """
    if threads:
        import torch

        torch.set_num_threads(max(1, int(threads)))
    with open(log_path, "w") as log:
        started = time.perf_counter()
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {what}", file=log, flush=True)
        try:
            summary = work(log)
        except AudiotexError as err:
            for stream in (log, sys.stderr):
                print(f"error: {err}", file=stream, flush=True)
            return 1
        except Exception:
            traceback.print_exc(file=log)
            raise
        if summary:
            print(summary, file=log)
        print(f"done in {time.perf_counter() - started:.1f} s", file=log)
    return 0


def single_path(paths: Any) -> str | None:
    """One path from a Snakemake input entry, or ``None`` for an empty one (a texture row's content)."""
    if isinstance(paths, (str, os.PathLike)):
        return str(paths) or None
    paths = list(paths)
    return str(paths[0]) if paths else None
