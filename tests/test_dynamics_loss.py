"""The band dynamics loss: each band's level, depth of modulation and sparseness over time follow the style's,
in the log-power domain of the envelope content term, which is blind to all three."""
from __future__ import annotations

import pytest
import torch

from audiotex import losses as L
from audiotex import params as P


def modulated_log_power(depth: float, bands: int = 6, frames: int = 400) -> torch.Tensor:
    """Log powers ``(bands, frames)`` rising and falling together around 0, ``depth`` natural-log units deep."""
    t = torch.arange(frames, dtype=torch.float32)
    shape = torch.sin(2 * torch.pi * t / 50) + 0.3 * torch.sin(2 * torch.pi * t / 13)
    return depth * shape.expand(bands, frames).clone()


def test_dynamics_loss_is_zero_at_the_target_and_grows_with_the_difference_in_depth():
    target = L.band_dynamics(modulated_log_power(1.0))
    assert float(L.dynamics_loss(modulated_log_power(1.0), *target)) == pytest.approx(0.0, abs=1e-10)
    losses = [float(L.dynamics_loss(modulated_log_power(depth), *target)) for depth in (1.2, 2.0, 4.0)]
    assert 0.0 < losses[0] < losses[1] < losses[2]
    # the same shape deeper: only the spread moves (mean and skewness stay), so the loss is its squared change
    _, spread, _ = target
    assert losses[1] == pytest.approx(float(spread.mean()) ** 2, rel=1e-3)


def test_dynamics_loss_sees_what_the_content_term_cannot():
    """A deeper, louder copy has the same standardized shape (the content term is 0) but other dynamics."""
    content = modulated_log_power(1.0)
    deeper_louder = modulated_log_power(3.0) + 2.0
    weights = torch.full((content.shape[0],), 1.0 / content.shape[0])
    assert float(L.envelope_shape_loss(deeper_louder, L.standardize(content), weights)) == pytest.approx(0.0, abs=1e-6)
    assert float(L.dynamics_loss(deeper_louder, *L.band_dynamics(content))) > 4.0  # level alone: 2 ** 2


def test_skewness_tells_sparse_crackle_from_an_even_rise_and_fall():
    even = modulated_log_power(1.0)
    crackle = torch.zeros_like(even)
    crackle[:, ::40] = 5.0  # rare loud clicks over a steady floor
    _, _, even_skew = L.band_dynamics(even)
    _, _, crackle_skew = L.band_dynamics(crackle)
    assert float(crackle_skew.min()) > 2.0 > float(even_skew.abs().max())


def test_dynamics_term_in_the_objective_is_zero_on_the_style_and_its_gradient_flows():
    from audiotex.synthesis import Objective

    torch.manual_seed(0)
    settings = P.stage_settings(P.resolve({"preset": "fast", "dynamics_weight": 1.0}), "synthesize")
    t = torch.arange(300, dtype=torch.float32)
    style = torch.rand(257, 300) * (1.5 + torch.sin(2 * torch.pi * t / 40))  # every bin pulsing
    objective = Objective(style, None, 300, settings, 125.0)
    dynamics = objective.term_names.index("dynamics")
    assert float(objective(style)[1][dynamics]) == pytest.approx(0.0, abs=1e-6)
    steady = (torch.rand(257, 300) * 2.5).requires_grad_()
    total, terms = objective(steady)
    assert float(terms[dynamics].detach()) > 0.01
    terms[dynamics].backward()
    assert torch.isfinite(steady.grad).all() and float(steady.grad.abs().sum()) > 0


def test_dynamics_term_is_off_by_default():
    assert P.PARAMS["dynamics_weight"].default == 0.0
    assert "dynamics_weight" not in P.preset_values("default", "texture")
