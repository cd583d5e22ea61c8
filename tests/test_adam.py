"""Batched Adam: each row steps as torch's Adam steps it alone, whatever step the other rows are at."""
import torch

from audiotex.adam import AdamState, adam_step


def loss_of(x: torch.Tensor) -> torch.Tensor:
    return ((x - 1.5) ** 4).sum() + (x[..., :-1] * x[..., 1:]).sum()


def gradient(x: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    return torch.autograd.grad(loss_of(x), x)[0]


def test_rows_follow_torch_adam_each_from_its_own_step():
    gen = torch.Generator().manual_seed(0)
    starts = torch.randn(2, 3, 7, generator=gen)
    # torch's Adam on each row alone, 12 steps
    expected = []
    for row in starts:
        x = row.clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=0.05)
        path = []
        for _ in range(12):
            opt.zero_grad()
            loss_of(x).backward()
            opt.step()
            path.append(x.detach().clone())
        expected.append(path)

    # ours: row 1 starts 5 steps late (as if resumed), then both step together; row 1 restored from a save
    x, state = starts.clone(), AdamState.empty(starts)
    for _ in range(5):
        x = adam_step(x, gradient(x[0])[None], state, [0], lr=0.05)
    assert torch.equal(x[1], starts[1]) and state.steps == [5, 0]
    saved = state.row(0)
    for _ in range(5):
        x = adam_step(x, gradient(x[1])[None], state, [1], lr=0.05)
    assert torch.allclose(x[0], expected[0][4], atol=1e-6) and torch.allclose(x[1], expected[1][4], atol=1e-6)
    state.set_row(0, saved)
    for _ in range(7):
        grads = torch.stack([gradient(x[0]), gradient(x[1])])
        x = adam_step(x, grads, state, [0, 1], lr=0.05)
    assert state.steps == [12, 12]
    assert torch.allclose(x[0], expected[0][11], atol=1e-5), float((x[0] - expected[0][11]).abs().max())
    assert torch.allclose(x[1], expected[1][11], atol=1e-5), float((x[1] - expected[1][11]).abs().max())
