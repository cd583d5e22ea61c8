"""Atomic file output: a killed job never leaves a file that looks finished."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import AudiotexError


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file lives in the same folder (so the rename is atomic on POSIX) and keeps the final
    suffix (so libraries that pick a format from the extension still work). On any exception the
    temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix,
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); give it the mode an ordinary open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail early, naming ``path``, when no file can be written there: a command checks its output before
    minutes of synthesis rather than after.

    ``path`` must not be a folder, and its nearest existing folder must take a new file (probed with a
    temporary file that is removed at once; missing folders below it are created later, on writing).

    Raises:
        AudiotexError: naming ``path`` and the reason.
    """
    path = Path(path)
    if path.is_dir():
        raise AudiotexError(f"{path}: is a folder, not an output file")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise AudiotexError(f"{path}: cannot create a folder under {folder}, which is a file")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise AudiotexError(f"{path}: cannot write in {folder} ({err.strerror or err})") from None
    return path
