"""Which torch device a job runs on (key ``device``), and the exact arithmetic it runs with there: one place for
every step that uses torch."""
from __future__ import annotations

import contextlib
import inspect
from typing import Iterator

import torch

from .errors import AudiotexError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without a GPU is an error.

    A ``torch.device`` is checked the same way as its name.

    Raises:
        AudiotexError: naming the key ``device`` when CUDA is asked for but torch sees none, or the name is
            not a torch device; a raw torch error would not say which setting to change.
    """
    if isinstance(name, str) and name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise AudiotexError(f"key 'device': {name!r} is not a torch device (expected auto, cpu or cuda)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise AudiotexError("key 'device': cuda was asked for but torch sees no CUDA device")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise AudiotexError(f"key 'device': {str(device)!r} asked for, but torch sees only "
                                f"{torch.cuda.device_count()} CUDA device(s)")
    return device


@contextlib.contextmanager
def exact_convolutions() -> Iterator[None]:
    """Within: cuDNN convolutions in full float32 and with deterministic algorithms; restored on exit.

    On Ampere and newer GPUs torch lets cuDNN run float32 convolutions in TF32 (10 mantissa bits) by default,
    so feature maps and Gram matrices would be off by about 1e-3 relative to the CPU's, which is what the
    settings were tuned on; L-BFGS's line search compares losses more finely than that. Its default
    algorithms may also sum in a different order on every run, and an optimisation amplifies any difference:
    one seed would not give one output. No effect on the CPU.
    """
    flags = {"enabled": torch.backends.cudnn.enabled, "benchmark": False, "deterministic": True, "allow_tf32": False}
    if "fp32_precision" in inspect.signature(torch.backends.cudnn.flags).parameters:
        flags["fp32_precision"] = "ieee"  # torch >= 2.9 decides by this setting, and flags() resets it otherwise
    with torch.backends.cudnn.flags(**flags):
        yield
