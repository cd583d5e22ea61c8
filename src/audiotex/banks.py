"""Random 1-D convolution feature banks over spectrograms (frequency bins are channels, time is the axis)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import AudiotexError
from .params import LAYER_PATTERN


@dataclass(frozen=True)
class LayerSpec:
    """One random convolution layer.

    Attributes:
        width: kernel width in frames.
        filters: number of filters (output channels).
        pool: the spectrogram is average-pooled over this many frames first (1: full time resolution;
            2: the seed's ``lowres`` variant).
    """

    width: int
    filters: int
    pool: int = 1

    def __str__(self) -> str:
        return f"{self.width}x{self.filters}" + (f"/{self.pool}" if self.pool != 1 else "")


def parse_layers(spec: str) -> list[LayerSpec]:
    """Parse ``"11x4096,11x4096/2"`` into layer specs (``WIDTHxFILTERS[/POOL]``, comma separated)."""
    layers = []
    for part in spec.split(","):
        m = re.fullmatch(LAYER_PATTERN, part)
        if not m:
            raise AudiotexError(f"key 'layers': cannot parse {part.strip()!r} (expected WIDTHxFILTERS[/POOL], "
                                "positive integers)")
        width, filters, pool = int(m[1]), int(m[2]), int(m[3] or 1)
        layers.append(LayerSpec(width, filters, pool))
    return layers


def min_frames(layers: list[LayerSpec]) -> int:
    """The fewest spectrogram frames every layer can convolve (valid padding) into at least one frame."""
    return max(layer.width * layer.pool for layer in layers)


def make_bank(n_channels: int, layers: list[LayerSpec], seed: int,
              device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Draw the kernels of each layer: shape ``(filters, n_channels, width)``.

    Weights are Gaussian with the seed's standard deviation ``sqrt(2) * sqrt(2 / ((C + F) * W))`` (He-style
    gain on a Glorot fan), drawn from a generator seeded with ``seed`` on the CPU so that the same seed gives
    the same bank on every device.
    """
    generator = torch.Generator().manual_seed(seed)
    kernels = []
    for layer in layers:
        std = math.sqrt(2.0) * math.sqrt(2.0 / ((n_channels + layer.filters) * layer.width))
        w = torch.randn(layer.filters, n_channels, layer.width, generator=generator) * std
        kernels.append(w.to(device=device, dtype=dtype))
    return kernels


def bank_features(spec: torch.Tensor, kernels: list[torch.Tensor], layers: list[LayerSpec],
                  circular: bool = False) -> list[torch.Tensor]:
    """ReLU features of each layer for a spectrogram ``spec`` of shape ``(channels, frames)``.

    Args:
        spec: the (log-magnitude) spectrogram, or a batch of them ``(B, channels, frames)`` (one batched
            convolution per layer).
        kernels: from :func:`make_bank`.
        layers: the specs the kernels were made from.
        circular: wrap time around (for seamless loops) instead of valid convolution.

    Returns:
        One tensor ``(filters, frames')`` per layer (``(B, filters, frames')`` for a batch).
    """
    x = spec if spec.dim() == 3 else spec.unsqueeze(0)
    feats = []
    pooled: dict[int, torch.Tensor] = {1: x}
    for w, layer in zip(kernels, layers):
        if layer.pool not in pooled:
            source = x
            if circular and x.shape[-1] % layer.pool:
                # a loop's last frames lead into its first: pool across the seam rather than drop them
                source = F.pad(x, (0, -x.shape[-1] % layer.pool), mode="circular")
            pooled[layer.pool] = F.avg_pool1d(source, layer.pool, layer.pool)
        inp = pooled[layer.pool]
        if circular:
            inp = F.pad(inp, (0, layer.width - 1), mode="circular")
        feats.append(F.relu(F.conv1d(inp, w)))
    return feats if spec.dim() == 3 else [f[0] for f in feats]
