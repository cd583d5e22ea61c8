"""Batched L-BFGS: many independent problems stepped together, each with its own history and line search.

``torch.optim.LBFGS`` serves one problem. Here ``x`` has shape ``(B, ...)``: row ``i`` is problem ``i``.
The expensive part, evaluating the loss and gradient, is done for all rows that need it in one call of the
closure (one batched forward and backward pass); the cheap scalar decisions of each row's strong-Wolfe line
search are made on the host, row by row. A row whose line search has finished is not evaluated again in
that iteration: the closure only ever sees the rows still searching.

One :func:`lbfgs_step` is one L-BFGS iteration for the rows asked for, so a caller can log, stop or
checkpoint between iterations without evaluating any point twice: the loss and gradient at the point
each row accepted are kept in the state and start its next iteration.

The numbers follow ``torch.optim.LBFGS(max_iter=1, line_search_fn="strong_wolfe", tolerance_grad=0,
tolerance_change=0)`` called once per iteration: first step ``min(1, 1 / |g|_1) * lr``, then ``lr``;
Nocedal & Wright's two-loop recursion with ``H0 = s.y / y.y``, pairs with ``s.y <= 1e-10`` skipped; the
line search is Nocedal & Wright's bracketing and zoom (Algorithms 3.5 and 3.6) with cubic interpolation,
``c1 = 1e-4``, ``c2 = 0.9``, at most ``max_line_search`` evaluations after the first.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Generator, Sequence

import torch

#: ``closure(rows, points) -> (loss (b,), gradient (b, ...), aux (b, ...) or None)``: evaluate the rows
#: ``rows`` (indices into the batch, a CPU tensor: reading it costs no device sync) at ``points``. ``aux`` is carried along with the loss unchanged (the loss
#: terms, say): the state keeps the aux of each row's accepted point.
Closure = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, "torch.Tensor | None"]]

#: Curvature pairs with ``s.y`` at or below this are not stored (they would make the inverse Hessian
#: estimate indefinite).
MIN_CURVATURE = 1e-10


@dataclass
class LBFGSState:
    """The state of every row of a batched L-BFGS run.

    Attributes:
        loss: ``(B,)`` loss at each row's current point (meaningless while ``iterations[i] == 0``).
        grad: ``(B, N)`` gradient at each row's current point, flattened.
        aux: ``(B, ...)`` the closure's aux at each row's current point, or ``None``.
        s, y: ``(B, capacity, N)`` ring buffers of steps and gradient changes; capacity grows up to
            ``history_size`` as pairs arrive.
        rho: ``(B, capacity)`` ``1 / s.y`` of each stored pair.
        h_diag: ``(B,)`` the initial inverse Hessian scale ``s.y / y.y`` of the newest pair (1 before any).
        count: pairs stored per row; head: the slot the next pair of each row goes to.
        iterations: iterations done per row.
        history_size: the most pairs a row keeps.
    """

    loss: torch.Tensor
    grad: torch.Tensor
    aux: torch.Tensor | None
    s: torch.Tensor
    y: torch.Tensor
    rho: torch.Tensor
    h_diag: torch.Tensor
    count: list[int]
    head: list[int]
    iterations: list[int]
    history_size: int = 100

    @classmethod
    def empty(cls, batch: int, size: int, history_size: int = 100, *, device: torch.device | str = "cpu",
              dtype: torch.dtype = torch.float32) -> "LBFGSState":
        """A fresh state for ``batch`` rows of ``size`` unknowns each."""
        kw = {"device": device, "dtype": dtype}
        return cls(loss=torch.zeros(batch, **kw), grad=torch.zeros(batch, size, **kw), aux=None,
                   s=torch.zeros(batch, 0, size, **kw), y=torch.zeros(batch, 0, size, **kw),
                   rho=torch.zeros(batch, 0, **kw), h_diag=torch.ones(batch, **kw), count=[0] * batch,
                   head=[0] * batch, iterations=[0] * batch, history_size=history_size)

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i``'s state on the CPU, pairs oldest first: what a per-row checkpoint stores.

        Copies, not views: on the CPU ``t[i].cpu()`` is a view of the whole batch, which ``torch.save``
        would write whole into every row's checkpoint, and which the next iteration would change. (``s``,
        ``y`` and ``rho`` are indexed by a list, which copies already.)
        """
        order = [(self.head[i] - self.count[i] + k) % max(1, self.s.shape[1]) for k in range(self.count[i])]
        return {"kind": "lbfgs", "iterations": self.iterations[i], "loss": self.loss[i].to("cpu", copy=True),
                "grad": self.grad[i].to("cpu", copy=True),
                "aux": None if self.aux is None else self.aux[i].to("cpu", copy=True),
                "s": self.s[i, order].cpu(), "y": self.y[i, order].cpu(), "rho": self.rho[i, order].cpu(),
                "h_diag": self.h_diag[i].to("cpu", copy=True)}

    def set_row(self, i: int, saved: dict[str, Any]) -> None:
        """Put a state from :meth:`row` into row ``i`` (it may come from a run of another batch size).

        Raises:
            ValueError: if ``saved`` is not an L-BFGS row state of this problem size.
        """
        if saved.get("kind") != "lbfgs" or saved["grad"].shape != self.grad.shape[1:]:
            raise ValueError("not an L-BFGS row state of this size")
        pairs = int(saved["s"].shape[0])
        if pairs > self.history_size:
            raise ValueError(f"{pairs} pairs saved, history_size is {self.history_size}")
        self._reserve(pairs)
        dev = self.grad.device
        self.loss[i] = saved["loss"].to(dev)
        self.grad[i] = saved["grad"].to(dev)
        if saved["aux"] is not None:
            if self.aux is None:
                self.aux = torch.zeros((self.loss.shape[0], *saved["aux"].shape), device=dev, dtype=self.loss.dtype)
            self.aux[i] = saved["aux"].to(dev)
        self.s[i, :pairs] = saved["s"].to(dev)
        self.y[i, :pairs] = saved["y"].to(dev)
        self.rho[i, :pairs] = saved["rho"].to(dev)
        self.h_diag[i] = saved["h_diag"].to(dev)
        self.count[i], self.head[i] = pairs, pairs % self.history_size
        self.iterations[i] = int(saved["iterations"])

    def _reserve(self, pairs: int) -> None:
        """Grow the ring buffers to hold ``pairs`` pairs (doubling, at most ``history_size``).

        A buffer only wraps once it is full at ``history_size``, so growing never reorders pairs.
        """
        capacity = self.s.shape[1]
        if pairs <= capacity:
            return
        new = min(self.history_size, max(pairs, 2 * capacity, 4))
        batch, size = self.grad.shape
        grow = new - capacity
        self.s = torch.cat([self.s, self.s.new_zeros(batch, grow, size)], 1)
        self.y = torch.cat([self.y, self.y.new_zeros(batch, grow, size)], 1)
        self.rho = torch.cat([self.rho, self.rho.new_zeros(batch, grow)], 1)


def two_loop_direction(grad: torch.Tensor, s: torch.Tensor, y: torch.Tensor, rho: torch.Tensor,
                       h_diag: torch.Tensor, count: Sequence[int], head: Sequence[int],
                       rows: Sequence[int] | None = None) -> torch.Tensor:
    """The quasi-Newton direction ``-H g`` of each row by the two-loop recursion over its own pairs.

    Args:
        grad: ``(b, N)`` gradients of the rows ``rows``.
        s, y, rho: ``(B, capacity, N)``, ``(B, capacity, N)``, ``(B, capacity)`` ring buffers of all rows.
        h_diag: ``(b,)`` initial inverse Hessian scale of the rows ``rows``.
        count, head: pairs stored and next slot, per row of ``rows``.
        rows: which rows of the buffers ``grad`` belongs to (all, in order, by default).

    Rows with fewer pairs than the others skip the missing ones (their ``rho`` is masked to 0). Only one
    pair per row is read at a time, and when every row's pair sits in the same slot, none is copied.
    """
    q = -grad
    deepest = max(count, default=0)
    if deepest == 0:
        return q * h_diag[:, None]
    capacity = s.shape[1]
    device = grad.device
    all_rows = rows is None or list(rows) == list(range(s.shape[0]))
    row_index = None if all_rows else torch.tensor(list(rows), device=device)
    aligned = len(set(count)) == 1 and len(set(head)) == 1
    if not aligned:  # each a copy to the device: only when rows differ
        count_t = torch.tensor(list(count), device=device)
        head_t = torch.tensor(list(head), device=device)

    def pair(k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if aligned:  # the same slot for every row: plain indexing, a view when all rows take part
            slot = (head[0] - 1 - k) % capacity
            if row_index is None:
                return s[:, slot], y[:, slot], rho[:, slot]
            return s[row_index, slot], y[row_index, slot], rho[row_index, slot]
        slot_t = (head_t - 1 - k) % capacity
        which = torch.arange(s.shape[0], device=device) if row_index is None else row_index
        rho_k = torch.where(k < count_t, rho[which, slot_t], torch.zeros_like(h_diag))
        return s[which, slot_t], y[which, slot_t], rho_k

    alphas = []
    for k in range(deepest):  # newest pair first
        s_k, y_k, rho_k = pair(k)
        alpha = rho_k * (s_k * q).sum(-1)
        q = q - alpha[:, None] * y_k
        alphas.append(alpha)
    r = q * h_diag[:, None]
    for k in reversed(range(deepest)):  # oldest pair first
        s_k, y_k, rho_k = pair(k)
        beta = rho_k * (y_k * r).sum(-1)
        r = r + (alphas[k] - beta)[:, None] * s_k
    return r


@dataclass
class _Trial:
    step: float
    loss: float
    slope: float  # directional derivative g.d at this step
    payload: Any  # what the caller wants back for the accepted step (gradient, aux)


def _cubic_minimizer(a: _Trial, b: _Trial, lower: float, upper: float) -> float:
    """Minimiser of the cubic through two trials' values and slopes, clamped to ``[lower, upper]``.

    Nocedal & Wright eq. 3.59; the middle of the interval when the cubic has no minimiser or the numbers
    are not usable (equal steps, infinite losses).
    """
    try:
        d1 = a.slope + b.slope - 3.0 * (a.loss - b.loss) / (a.step - b.step)
        radicand = d1 * d1 - a.slope * b.slope
        if not radicand >= 0.0:
            return (lower + upper) / 2.0
        d2 = math.sqrt(radicand)
        lo, hi = (a, b) if a.step <= b.step else (b, a)
        t = hi.step - (hi.step - lo.step) * (hi.slope + d2 - d1) / (hi.slope - lo.slope + 2.0 * d2)
    except (ZeroDivisionError, OverflowError):
        return (lower + upper) / 2.0
    if not math.isfinite(t):
        return (lower + upper) / 2.0
    return min(max(t, lower), upper)


LineSearch = Generator[float, tuple[float, float, Any], tuple[_Trial, int]]


def strong_wolfe(loss0: float, slope0: float, payload0: Any, step: float, direction_max: float, *,
                 c1: float = 1e-4, c2: float = 0.9, tolerance: float = 1e-9, max_more: int = 25) -> LineSearch:
    """A strong-Wolfe line search for one row, as a generator driven by the batch.

    It yields each step size it wants evaluated and is sent back ``(loss, slope, payload)`` at that step
    (``slope`` is the directional derivative ``g . d``). It returns ``(accepted trial, evaluations)``; the
    accepted trial may be the starting point (step 0, ``payload0``) when no step decreased the loss.

    Args:
        loss0, slope0: loss and directional derivative at step 0 (``slope0 < 0``).
        step: the first step to try.
        direction_max: ``max |d|``, to stop zooming once the bracket moves ``x`` by less than ``tolerance``.
        c1, c2: sufficient decrease and curvature constants.
        max_more: evaluations allowed after the first.

    A non-finite loss counts as no sufficient decrease, so the search backs off instead of following it.
    """
    start = _Trial(0.0, loss0, slope0, payload0)

    def too_high(trial: _Trial, reference: float) -> bool:
        return not math.isfinite(trial.loss) or trial.loss > loss0 + c1 * trial.step * slope0 \
            or trial.loss >= reference

    def flat_enough(trial: _Trial) -> bool:
        return abs(trial.slope) <= -c2 * slope0

    # Bracketing: grow the step until it overshoots (loss up, or slope turned) or satisfies both conditions.
    previous = start
    evaluations = 0
    bracket: list[_Trial]
    while True:
        trial = _Trial(step, *(yield step))
        evaluations += 1
        if evaluations > max_more:
            # out of evaluations while still extrapolating: the better of the start and the last trial
            return (start if start.loss <= trial.loss else trial), evaluations
        if too_high(trial, previous.loss if evaluations > 2 else math.inf):
            bracket = [previous, trial]
            break
        if flat_enough(trial):
            return trial, evaluations
        if trial.slope >= 0:
            bracket = [previous, trial]
            break
        step = _cubic_minimizer(previous, trial, trial.step + 0.01 * (trial.step - previous.step), 10.0 * trial.step)
        previous = trial

    # Zoom: shrink the bracket around a point satisfying both conditions; bracket[low] has the lower loss.
    low = 0 if bracket[0].loss <= bracket[1].loss else 1
    stalled = False
    while evaluations <= max_more:
        left, right = min(t.step for t in bracket), max(t.step for t in bracket)
        if (right - left) * direction_max < tolerance:
            break
        step = _cubic_minimizer(bracket[0], bracket[1], left, right)
        # Safeguard: a step hugging an end of the bracket makes little progress; after two such steps in a
        # row (or one outside the bracket) move it a tenth of the bracket inwards.
        margin = 0.1 * (right - left)
        if min(right - step, step - left) < margin:
            if stalled or step >= right or step <= left:
                step = right - margin if abs(step - right) < abs(step - left) else left + margin
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        trial = _Trial(step, *(yield step))
        evaluations += 1
        high = 1 - low
        if too_high(trial, bracket[low].loss):
            bracket[high] = trial
            low = 0 if bracket[0].loss <= bracket[1].loss else 1
            continue
        if flat_enough(trial):
            bracket[low] = trial
            break
        if trial.slope * (bracket[high].step - bracket[low].step) >= 0:
            bracket[high] = bracket[low]
        bracket[low] = trial
    return bracket[low], evaluations


def lbfgs_step(closure: Closure, x: torch.Tensor, state: LBFGSState, rows: Sequence[int] | None = None, *,
               lr: float = 1.0, max_line_search: int = 25) -> tuple[torch.Tensor, list[int]]:
    """One L-BFGS iteration for the rows ``rows`` of ``x`` (all rows by default).

    Args:
        closure: evaluates a sub-batch; see :data:`Closure`.
        x: ``(B, ...)`` current points.
        state: from :meth:`LBFGSState.empty` (or restored row by row); updated in place.
        rows: indices of the rows to step; the others are left untouched and never evaluated.
        lr: the step the line search starts from (after the first iteration).
        max_line_search: evaluations a line search may take after its first.

    Returns:
        The new ``x`` (a new tensor) and the evaluations each stepped row took (in the order of ``rows``).
    """
    batch = x.shape[0]
    active = list(range(batch)) if rows is None else [int(r) for r in rows]
    if not active:
        return x, []
    device = x.device
    flat = x.detach().reshape(batch, -1)
    shape = x.shape[1:]
    idx = torch.tensor(active, device=device)
    evaluations = dict.fromkeys(active, 0)

    def evaluate(which: list[int], points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        loss, grad, aux = closure(torch.tensor(which), points.reshape(len(which), *shape))
        for r in which:
            evaluations[r] += 1
        return loss.detach(), grad.detach().reshape(len(which), -1), None if aux is None else aux.detach()

    fresh = [r for r in active if state.iterations[r] == 0]
    if fresh:
        fresh_idx = torch.tensor(fresh, device=device)
        loss, grad, aux = evaluate(fresh, flat[fresh_idx])
        state.loss[fresh_idx] = loss
        state.grad[fresh_idx] = grad
        if aux is not None:
            if state.aux is None:
                state.aux = aux.new_zeros((batch, *aux.shape[1:]))
            state.aux[fresh_idx] = aux

    grad0 = state.grad[idx]
    direction = two_loop_direction(grad0, state.s, state.y, state.rho, state.h_diag[idx],
                                   [state.count[r] for r in active], [state.head[r] for r in active], active)
    slope0 = (grad0 * direction).sum(-1)
    scalars = torch.stack([state.loss[idx], slope0, direction.abs().amax(-1), grad0.abs().sum(-1)], 1).tolist()

    searches: dict[int, LineSearch] = {}
    pending: dict[int, float] = {}
    accepted: dict[int, _Trial] = {}
    for k, r in enumerate(active):
        loss0, s0, d_max, g_l1 = scalars[k]
        payload0 = (grad0[k], None if state.aux is None else state.aux[r].clone())
        if not s0 < 0:  # not a descent direction (or NaN): stay, as torch's LBFGS does
            accepted[r] = _Trial(0.0, loss0, s0, payload0)
            continue
        first = min(1.0, 1.0 / g_l1) * lr if state.iterations[r] == 0 else lr
        searches[r] = strong_wolfe(loss0, s0, payload0, first, d_max, max_more=max_line_search)
        pending[r] = next(searches[r])

    position = {r: k for k, r in enumerate(active)}
    while pending:
        which = sorted(pending)
        where = torch.tensor([position[r] for r in which], device=device)
        steps = torch.tensor([pending[r] for r in which], device=device, dtype=flat.dtype)
        points = flat[torch.tensor(which, device=device)] + steps[:, None] * direction[where]
        loss, grad, aux = evaluate(which, points)
        slopes = (grad * direction[where]).sum(-1)
        values = torch.stack([loss, slopes], 1).tolist()
        for j, r in enumerate(which):
            try:
                pending[r] = searches[r].send((values[j][0], values[j][1], (grad[j], None if aux is None else aux[j])))
            except StopIteration as done:
                accepted[r] = done.value[0]
                del pending[r]

    # New points, gradients and aux of the stepped rows; a step of 0 keeps the old ones.
    step_t = torch.tensor([accepted[r].step for r in active], device=device, dtype=flat.dtype)
    payloads = [accepted[r].payload for r in active]
    new_grad = torch.stack([p[0] for p in payloads])
    new_flat = flat.clone()
    new_flat[idx] = flat[idx] + step_t[:, None] * direction
    if state.aux is not None:
        state.aux[idx] = torch.stack([p[1] for p in payloads])

    # Curvature pairs: s = t d, y = g_new - g_old; kept where s.y is large enough.
    s_new = step_t[:, None] * direction
    y_new = new_grad - grad0
    sy_yy = torch.stack([(s_new * y_new).sum(-1), (y_new * y_new).sum(-1)], 1)
    curvature = sy_yy[:, 0].tolist()
    keep = [k for k, sy in enumerate(curvature) if sy > MIN_CURVATURE]
    if keep:
        state._reserve(max(state.count[active[k]] + 1 for k in keep))
        capacity = state.s.shape[1]
        keep_t = torch.tensor(keep, device=device)
        rows_t = idx[keep_t]
        slots = torch.tensor([state.head[active[k]] % capacity for k in keep], device=device)
        state.s[rows_t, slots] = s_new[keep_t]
        state.y[rows_t, slots] = y_new[keep_t]
        state.rho[rows_t, slots] = 1.0 / sy_yy[keep_t, 0]
        state.h_diag[rows_t] = sy_yy[keep_t, 0] / sy_yy[keep_t, 1]
        for k in keep:
            r = active[k]
            state.count[r] = min(state.count[r] + 1, state.history_size)
            state.head[r] = (state.head[r] + 1) % state.history_size
    state.loss[idx] = torch.tensor([accepted[r].loss for r in active], device=device, dtype=flat.dtype)
    state.grad[idx] = new_grad
    for r in active:
        state.iterations[r] += 1
    return new_flat.reshape(x.shape), [evaluations[r] for r in active]
