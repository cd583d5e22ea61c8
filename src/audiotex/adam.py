"""Adam over a batch of independent rows, each with its own step count (rows may resume at different steps).

The update is ``torch.optim.Adam``'s (no weight decay, no AMSGrad), elementwise, so a batch is just a
bigger tensor; only the bias corrections are per row.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch


@dataclass
class AdamState:
    """First and second moment estimates ``(B, ...)`` and the steps each row has taken."""

    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor
    steps: list[int]

    @classmethod
    def empty(cls, like: torch.Tensor) -> "AdamState":
        """A fresh state for a batch shaped like ``like`` ``(B, ...)``."""
        return cls(torch.zeros_like(like), torch.zeros_like(like), [0] * like.shape[0])

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i``'s state on the CPU (for a per-row checkpoint): copies, not views of the whole batch."""
        return {"kind": "adam", "steps": self.steps[i], "exp_avg": self.exp_avg[i].to("cpu", copy=True),
                "exp_avg_sq": self.exp_avg_sq[i].to("cpu", copy=True)}

    def set_row(self, i: int, saved: dict[str, Any]) -> None:
        """Put a state from :meth:`row` into row ``i``.

        Raises:
            ValueError: if ``saved`` is not an Adam row state of this shape.
        """
        if saved.get("kind") != "adam" or saved["exp_avg"].shape != self.exp_avg.shape[1:]:
            raise ValueError("not an Adam row state of this shape")
        self.exp_avg[i] = saved["exp_avg"].to(self.exp_avg.device)
        self.exp_avg_sq[i] = saved["exp_avg_sq"].to(self.exp_avg.device)
        self.steps[i] = int(saved["steps"])


def adam_step(x: torch.Tensor, grad: torch.Tensor, state: AdamState, rows: Sequence[int], *, lr: float,
              betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> torch.Tensor:
    """One Adam step of the rows ``rows`` of ``x`` given their gradients ``grad`` ``(len(rows), ...)``.

    Returns the new ``x`` (a new tensor); ``state`` is updated in place.
    """
    beta1, beta2 = betas
    idx = torch.tensor(list(rows), device=x.device)
    for r in rows:
        state.steps[r] += 1
    exp_avg = state.exp_avg[idx].lerp(grad, 1 - beta1)
    exp_avg_sq = state.exp_avg_sq[idx] * beta2 + (1 - beta2) * grad * grad
    state.exp_avg[idx], state.exp_avg_sq[idx] = exp_avg, exp_avg_sq
    extra = (1,) * (x.dim() - 1)
    steps = torch.tensor([state.steps[r] for r in rows], device=x.device, dtype=torch.float64)
    step_size = (lr / (1 - beta1 ** steps)).to(x.dtype).view(-1, *extra)
    correction2 = torch.sqrt(1 - beta2 ** steps).to(x.dtype).view(-1, *extra)
    new = x.detach().clone()
    new[idx] = x[idx] - step_size * exp_avg / (exp_avg_sq.sqrt() / correction2 + eps)
    return new
