"""DUKD: invertible label-consistency ops, zoom-in tiles, and the two-step update."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sr_compress.compress.augment import OPS, apply_ops, draw_ops, invert_ops, official_inverse
from sr_compress.compress.methods.dukd import DUKD, DUKDConfig, gt_tiles


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only add contention
    yield
    torch.set_num_threads(n)


SUBSETS = [frozenset(c) for r in range(len(OPS) + 1) for c in itertools.combinations(OPS, r)]


def _masks(subset: frozenset[str], n: int = 1) -> dict[str, torch.Tensor]:
    return {op: torch.full((n,), op in subset) for op in OPS}


@pytest.mark.parametrize("subset", SUBSETS, ids=lambda s: "".join(sorted(s)) or "none")
def test_reverse_order_inverse_for_every_subset(subset: frozenset[str]) -> None:
    u = torch.rand(1, 3, 6, 6)
    m = _masks(subset)
    assert torch.equal(invert_ops(apply_ops(u, m), m), u)
    # the official same-order re-application is an inverse exactly when the transpose does not
    # meet a single flip (then it is a 180-degree rotation)
    rotated = "t" in subset and len(subset & {"h", "v"}) == 1
    back = official_inverse(apply_ops(u, m), m)
    assert torch.equal(back, u) != rotated
    if rotated:
        assert torch.equal(back, torch.rot90(u, 2, dims=(-2, -1)))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(2, 7), st.floats(0.0, 1.0), st.integers(0, 2**31 - 1))
def test_per_sample_ops_roundtrip(n: int, size: int, q: float, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, 3, size, size, generator=g)
    m = draw_ops(n, q, generator=g)
    fu = apply_ops(u, m)
    assert torch.equal(invert_ops(fu, m), u)
    for i in range(n):  # each sample got exactly its own ops
        one = {op: m[op][i : i + 1] for op in OPS}
        assert torch.equal(fu[i : i + 1], apply_ops(u[i : i + 1], one))


def test_draw_probability() -> None:
    m = draw_ops(20000, 0.3, generator=torch.Generator().manual_seed(0))
    for op in OPS:
        assert abs(m[op].float().mean().item() - 0.3) < 0.02
    # fraction hit by the official-order bug: q * 2q(1-q) = 0.126
    bad = m["t"] & (m["h"] ^ m["v"])
    assert abs(bad.float().mean().item() - 0.126) < 0.01


def test_ops_keep_gradients() -> None:
    x = torch.rand(4, 3, 5, 5, requires_grad=True)
    m = draw_ops(4, 0.5, generator=torch.Generator().manual_seed(1))
    invert_ops(apply_ops(x, m), m).sum().backward()
    assert torch.allclose(x.grad, torch.ones_like(x))


def test_gt_tiles_are_lr_sized_grid_cells() -> None:
    s, h = 3, 4
    y = torch.arange(2 * 3 * (s * h) ** 2, dtype=torch.float32).view(2, 3, s * h, s * h)
    torch.manual_seed(0)
    tiles = gt_tiles(y, (h, h), s, 2)
    assert tiles.shape == (4, 3, h, h)
    cells = [(i, j) for i in range(s) for j in range(s)]
    found = []
    for t in tiles[::2]:  # first sample of each chosen cell
        hit = [c for c in cells if torch.equal(y[0, :, c[0] * h:(c[0] + 1) * h, c[1] * h:(c[1] + 1) * h], t)]
        assert len(hit) == 1
        found.append(hit[0])
    assert len(set(found)) == 2
    assert gt_tiles(y, (h, h), s, s * s).shape[0] == 2 * s * s


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="dukd.q"):
        DUKDConfig(q=1.2)
    with pytest.raises(ValueError, match="n_gt_sub"):
        DUKDConfig(n_gt_sub=-1)


class _Ctx:
    """Minimal StepContext stand-in recording the optimiser steps."""

    def __init__(self, student: torch.nn.Module, teacher: torch.nn.Module, scale: int) -> None:
        self.student, self.teacher, self.scale = student, teacher, scale
        self.opt = torch.optim.Adam(student.parameters(), lr=1e-3)
        self.steps: list[float] = []

    def teacher_forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.teacher(x)

    def step(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.steps.append(float(loss.detach()))


def test_two_optimizer_steps_and_teacher_untouched() -> None:
    from sr_compress.models.students import build_student

    s = 2
    student = build_student("edsr:c8b1", s).model
    teacher = build_student("edsr:c8b1", s).model.eval().requires_grad_(False)
    t_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    method = DUKD(DUKDConfig(q=1.0, official_inverse_order=False), s)
    ctx = _Ctx(student, teacher, s)
    batch = {"lr": torch.rand(2, 3, 8, 8), "hr": torch.rand(2, 3, 16, 16)}
    logs = method.train_step(batch, ctx)  # type: ignore[arg-type]
    assert len(ctx.steps) == 2
    assert {"loss", "l_pix", "l_kd", "l_zoom_in", "l_zoom_out_pix", "l_zoom_out_kd", "loss_upcycle"} <= set(logs)
    # step 2 = w_kd*zoom_in + w_pix*zo_pix + w_kd*zo_kd (official weighting)
    expect = 1.0 * logs["l_zoom_in"] + 5.0 * logs["l_zoom_out_pix"] + 1.0 * logs["l_zoom_out_kd"]
    assert abs(logs["loss_upcycle"] - expect) < 1e-5
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in t_before.items())


def test_label_consistency_zero_for_equivariant_student() -> None:
    """A student that commutes with every op gets zoom-in loss 0 when it equals the teacher;
    with the official same-order mapping it does not (rotated labels)."""
    s = 2

    class Up(torch.nn.Module):  # nearest upsampling commutes with flips, transpose and inversion
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.interpolate(x, scale_factor=s, mode="nearest")

    batch = {"lr": torch.rand(64, 3, 6, 6), "hr": torch.rand(64, 3, 12, 12)}
    for official, zero in ((False, True), (True, False)):
        cfg = DUKDConfig(q=0.5, zoom_out=False, official_inverse_order=official)
        ctx = _Ctx(torch.nn.Conv2d(1, 1, 1), Up(), s)
        ctx.student = Up()  # type: ignore[assignment]
        ctx.step = lambda loss: None  # type: ignore[method-assign]
        torch.manual_seed(0)
        logs = DUKD(cfg, s).train_step(batch, ctx)  # type: ignore[arg-type]
        assert (logs["l_zoom_in"] < 1e-7) == zero, (official, logs["l_zoom_in"])
