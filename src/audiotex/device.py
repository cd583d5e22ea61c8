"""Which torch device a job runs on (key ``device``): one place for every step that uses torch."""
from __future__ import annotations

import torch

from .errors import AudiotexError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without a GPU is an error.

    Raises:
        AudiotexError: naming the key ``device`` when CUDA is asked for but torch sees none, or the name is
            not a torch device; a raw torch error would not say which setting to change.
    """
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise AudiotexError(f"key 'device': {name!r} is not a torch device (expected auto, cpu or cuda)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise AudiotexError("key 'device': cuda was asked for but torch sees no CUDA device")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise AudiotexError(f"key 'device': {name!r} asked for, but torch sees only "
                                f"{torch.cuda.device_count()} CUDA device(s)")
    return device
