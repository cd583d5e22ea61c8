"""The batched L-BFGS: one row follows torch's LBFGS; rows of a batch do exactly what they do alone."""
from __future__ import annotations

import pytest
import torch

from audiotex.lbfgs import LBFGSState, lbfgs_step


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    """Per row of ``(b, n)``: curved valley, the line search has to zoom now and then."""
    return (100 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1 - x[..., :-1]) ** 2).sum(-1)


def quadratics(n: int, rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ill-conditioned random quadratics ``0.5 x'Ax - b'x``, one per row: (A (rows, n, n), b (rows, n))."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(rows, n, n, generator=g, dtype=torch.float64))
    eig = torch.logspace(0, 3, n, dtype=torch.float64)
    return q @ torch.diag(eig) @ q.transpose(-1, -2), torch.randn(rows, n, generator=g, dtype=torch.float64)


def closure_of(f, seen: list[list[int]] | None = None):
    def closure(rows, points):
        if seen is not None:
            seen.append(rows.tolist())
        points = points.detach().requires_grad_(True)
        loss = f(rows, points)
        grad, = torch.autograd.grad(loss.sum(), points)
        return loss.detach(), grad, loss.detach()[:, None] * 2  # an aux that must travel with the loss
    return closure


def torch_path(f, x0: torch.Tensor, iterations: int, history_size: int = 100) -> list[torch.Tensor]:
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=1, max_eval=25, history_size=history_size, tolerance_grad=0,
                            tolerance_change=0, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    path = []
    for _ in range(iterations):
        opt.step(closure)
        path.append(x.detach().clone())
    return path


def our_path(f, x0: torch.Tensor, iterations: int, history_size: int = 100) -> tuple[list[torch.Tensor], list[int]]:
    x, state = x0.clone()[None], LBFGSState.empty(1, x0.numel(), history_size, dtype=x0.dtype)
    path, evaluations = [], []
    for _ in range(iterations):
        x, ev = lbfgs_step(closure_of(lambda rows, p: f(p)), x, state)
        path.append(x[0].clone())
        evaluations += ev
    return path, evaluations


@pytest.mark.parametrize("history_size", [100, 3])
def test_one_row_follows_torch_lbfgs_on_rosenbrock(history_size):
    x0 = torch.randn(6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = torch_path(rosenbrock, x0, 40, history_size)
    ours, evaluations = our_path(rosenbrock, x0, 40, history_size)
    assert max(evaluations) > 1, "the line search never had to search: the test would not test it"
    worst = max(float((a - b).abs().max()) for a, b in zip(ours, expected))
    assert worst < 1e-8, worst
    assert float(rosenbrock(ours[-1])) < 1e-3 * float(rosenbrock(x0))


def test_one_row_follows_torch_lbfgs_on_a_quadratic_in_float32():
    a, b = quadratics(30, 1, seed=1)
    a, b = a[0].float(), b[0].float()

    def f(x):
        return 0.5 * ((x @ a) * x).sum(-1) - (x * b).sum(-1)

    x0 = torch.zeros(30)
    expected = torch_path(f, x0, 25)
    ours, _ = our_path(f, x0, 25)
    for k, (mine, theirs) in enumerate(zip(ours, expected)):
        assert torch.allclose(mine, theirs, rtol=1e-4, atol=1e-4), (k, float((mine - theirs).abs().max()))


def test_batched_rows_equal_the_same_rows_run_alone():
    a, b = quadratics(12, 3, seed=2)
    starts = torch.randn(3, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def f(rows, x):  # row 2 is Rosenbrock, rows 0 and 1 quadratics: different line-search paths per row
        quad = 0.5 * (torch.einsum("bi,bij,bj->b", x, a[rows], x)) - (x * b[rows]).sum(-1)
        return torch.where(rows == 2, rosenbrock(x), quad)

    seen: list[list[int]] = []
    x, state = starts.clone(), LBFGSState.empty(3, 12, dtype=torch.float64)
    batched_evaluations = []
    for _ in range(15):
        x, ev = lbfgs_step(closure_of(f, seen), x, state)
        batched_evaluations.append(ev)
    assert any(len(rows) < 3 for rows in seen), "finished rows must not be evaluated again"
    for r in range(3):
        alone, st = starts[r:r + 1].clone(), LBFGSState.empty(1, 12, dtype=torch.float64)
        evaluations = []
        for _ in range(15):
            alone, ev = lbfgs_step(closure_of(lambda rows, p: f(rows + r, p)), alone, st)
            evaluations += ev
        assert evaluations == [ev[r] for ev in batched_evaluations]
        assert torch.allclose(alone[0], x[r], rtol=0, atol=1e-12), float((alone[0] - x[r]).abs().max())
        assert torch.allclose(st.aux[0], state.aux[r]) and torch.allclose(state.aux[r, 0], 2 * state.loss[r])


def test_stepping_some_rows_leaves_the_others_alone():
    a, b = quadratics(8, 2, seed=4)

    def f(rows, x):
        return 0.5 * torch.einsum("bi,bij,bj->b", x, a[rows], x) - (x * b[rows]).sum(-1)

    seen: list[list[int]] = []
    x0 = torch.zeros(2, 8, dtype=torch.float64)
    state = LBFGSState.empty(2, 8, dtype=torch.float64)
    x, _ = lbfgs_step(closure_of(f, seen), x0, state, rows=[1])
    assert all(rows == [1] for rows in seen)
    assert torch.equal(x[0], x0[0]) and not torch.equal(x[1], x0[1])
    assert state.iterations == [0, 1]
    # then both together: histories of different lengths in one batch; each row still ends as it does alone
    x, _ = lbfgs_step(closure_of(f), x, state, rows=[1])
    for _ in range(6):
        x, _ = lbfgs_step(closure_of(f), x, state)
    assert state.iterations == [6, 8] and state.count[0] != state.count[1]
    for r, iterations in ((0, 6), (1, 8)):
        alone, st = x0[r:r + 1].clone(), LBFGSState.empty(1, 8, dtype=torch.float64)
        for _ in range(iterations):
            alone, _ = lbfgs_step(closure_of(lambda rows, p: f(rows + r, p)), alone, st)
        assert torch.allclose(alone[0], x[r], rtol=0, atol=1e-12), float((alone[0] - x[r]).abs().max())


def test_a_row_state_saved_and_restored_continues_exactly():
    a, b = quadratics(10, 2, seed=5)

    def f(rows, x):
        return 0.5 * torch.einsum("bi,bij,bj->b", x, a[rows], x) - (x * b[rows]).sum(-1)

    x, state = torch.zeros(2, 10, dtype=torch.float64), LBFGSState.empty(2, 10, history_size=4, dtype=torch.float64)
    for _ in range(6):  # more iterations than history: the ring buffer has wrapped
        x, _ = lbfgs_step(closure_of(f), x, state)
    saved = state.row(1)
    assert saved["s"].shape == (4, 10) and saved["iterations"] == 6
    # restore row 1 of the pair as row 0 of a new batch of one, then both go on
    alone, restored = x[1:2].clone(), LBFGSState.empty(1, 10, history_size=4, dtype=torch.float64)
    restored.set_row(0, saved)
    for _ in range(5):
        x, _ = lbfgs_step(closure_of(f), x, state)
        alone, _ = lbfgs_step(closure_of(lambda rows, p: f(rows + 1, p)), alone, restored)
    assert torch.allclose(alone[0], x[1], rtol=0, atol=1e-12)
    with pytest.raises(ValueError):
        LBFGSState.empty(1, 11, dtype=torch.float64).set_row(0, saved)
