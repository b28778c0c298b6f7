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


def _real_ctx(student: torch.nn.Module, teacher: torch.nn.Module, scale: int, lr: float = 0.1,
              clip: float | None = None):
    """The engine's own StepContext (its ``step`` is under test), with plain SGD so that an
    update is exactly ``-lr * grad``."""
    from accelerate import Accelerator

    from sr_compress.compress.base import StepContext

    opt = torch.optim.SGD(student.parameters(), lr=lr)
    return StepContext(accelerator=Accelerator(cpu=True), student=student, teacher=teacher, optimizer=opt,
                       scale=scale, iteration=0, total_iterations=1, clip_grad=clip, device=torch.device("cpu"))


def _tiny(scale: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 3 * scale * scale, 3, padding=1), torch.nn.PixelShuffle(scale))


def _grads(model: torch.nn.Module, loss: torch.Tensor) -> list[torch.Tensor]:
    return [g.detach() for g in torch.autograd.grad(loss, list(model.parameters()))]


def _hand_update(student: torch.nn.Module, teacher: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                 s: int, lr: float, mode: str) -> list[torch.Tensor]:
    """DUKD's iteration written out: θ1 = θ0 − lr·g1(θ0); θ2 = θ1 − lr·(g1 + g2(θ1)) in the
    official mode (one zero_grad per iteration), θ1 − lr·g2(θ1) in the separate mode."""
    import copy

    import torch.nn.functional as F

    from sr_compress.data.imresize import imresize

    m = copy.deepcopy(student)
    with torch.no_grad():
        t_x = teacher(x)
    g1 = _grads(m, 5.0 * F.l1_loss(m(x), y) + 1.0 * F.l1_loss(m(x), t_x))
    with torch.no_grad():
        for p, g in zip(m.parameters(), g1, strict=True):
            p -= lr * g
    torch.manual_seed(0)  # the method draws its zoom-in cells first thing after seeding
    u = gt_tiles(y, x.shape[-2:], s, 1)
    x_dn = imresize(x, size=(x.shape[-2] // s, x.shape[-1] // s))
    with torch.no_grad():
        t_u, t_dn = teacher(u), teacher(x_dn)
    g2 = _grads(m, F.l1_loss(m(u), t_u) + 5.0 * F.l1_loss(m(x_dn), x) + F.l1_loss(m(x_dn), t_dn))
    with torch.no_grad():
        for p, a, b in zip(m.parameters(), g1, g2, strict=True):
            p -= lr * (a + b if mode == "official" else b)
    return [p.detach() for p in m.parameters()]


@pytest.mark.parametrize("mode", ["official", "separate"])
def test_second_step_gradient_matches_hand_computed_update(mode: str) -> None:
    s, lr = 2, 0.1
    student, teacher = _tiny(s, 1), _tiny(s, 2).requires_grad_(False)
    x, y = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 16, 16)
    expect = _hand_update(student, teacher, x, y, s, lr, mode)
    cfg = DUKDConfig(n_gt_sub=1, label_consistency=False, grad_mode=mode)  # type: ignore[arg-type]
    torch.manual_seed(0)
    DUKD(cfg, s).train_step({"lr": x, "hr": y}, _real_ctx(student, teacher, s, lr))
    for got, want in zip(student.parameters(), expect, strict=True):
        torch.testing.assert_close(got.detach(), want, rtol=1e-5, atol=1e-6)


def test_official_and_separate_modes_differ() -> None:
    """The two gradient modes are really different updates (guards the test above against a
    configuration where g1 vanishes)."""
    s = 2
    x, y = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 16, 16)
    out = []
    for mode in ("official", "separate"):
        student, teacher = _tiny(s, 1), _tiny(s, 2).requires_grad_(False)
        torch.manual_seed(0)
        cfg = DUKDConfig(n_gt_sub=1, label_consistency=False, grad_mode=mode)  # type: ignore[arg-type]
        DUKD(cfg, s).train_step({"lr": x, "hr": y}, _real_ctx(student, teacher, s))
        out.append(torch.cat([p.detach().flatten() for p in student.parameters()]))
    assert (out[0] - out[1]).abs().max() > 1e-4


def test_teacher_gets_no_gradient() -> None:
    """Even a teacher whose parameters require grad gets none: its outputs are labels only."""
    s = 2
    student, teacher = _tiny(s, 1), _tiny(s, 2)  # teacher left trainable on purpose
    DUKD(DUKDConfig(q=1.0), s).train_step({"lr": torch.rand(2, 3, 8, 8), "hr": torch.rand(2, 3, 16, 16)},
                                          _real_ctx(student, teacher, s))
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None for p in student.parameters())


@pytest.mark.parametrize(("scale", "tiles"), [(2, 2), (3, 1), (4, 1)])
def test_official_n_gt_sub_per_scale(scale: int, tiles: int) -> None:
    """Default zoom-in tiles follow the official recipes (x2: 2, x3/x4: 1): the student sees a
    zoom-in batch of tiles·B."""
    seen: list[int] = []

    class Rec(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = _tiny(scale, 0)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x.shape[0])
            return self.net(x)

    b, p = 2, 6
    student = Rec()
    cfg = DUKDConfig(zoom_out=False, label_consistency=False)
    DUKD(cfg, scale).train_step({"lr": torch.rand(b, 3, p, p), "hr": torch.rand(b, 3, p * scale, p * scale)},
                                _real_ctx(student, _tiny(scale, 3).requires_grad_(False), scale))
    assert seen == [b, tiles * b]


def test_init_from_lower_scale_loads_matching_tensors(tmp_path) -> None:
    """x2 → x4 initialisation (official x4 recipe): every tensor with a matching name and shape
    comes from the x2 checkpoint, the extra x4 upsampling stage keeps its own init."""
    import copy

    from sr_compress.compress.methods.dukd import load_matching
    from sr_compress.models.load import save_model
    from sr_compress.models.students import build_student

    x2 = build_student("edsr:c8b2", 2)
    save_model(x2, tmp_path / "x2.pth")
    x4 = build_student("edsr:c8b2", 4).model
    before = copy.deepcopy(x4.state_dict())
    DUKD(DUKDConfig(init_from=str(tmp_path / "x2.pth")), 4).setup(x4, None, torch.device("cpu"))
    src, now = x2.model.state_dict(), x4.state_dict()
    shared = [k for k in now if k in src and src[k].shape == now[k].shape]
    assert "body.0.conv1.weight" in shared and "upsample.0.weight" in shared
    assert all(torch.equal(now[k], src[k]) for k in shared)
    rest = [k for k in now if k not in shared]
    assert rest and all(torch.equal(now[k], before[k]) for k in rest)
    other = build_student("edsr:c16b1", 2)
    save_model(other, tmp_path / "other.pth")
    with pytest.raises(Exception, match="shares only"):
        load_matching(build_student("edsr:c8b2", 4).model, str(tmp_path / "other.pth"))


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
        ctx = _real_ctx(torch.nn.Conv2d(1, 1, 1), Up(), s)
        ctx.student = Up()
        ctx.step = lambda loss, **kw: None  # type: ignore[method-assign]  # only the logged loss matters
        torch.manual_seed(0)
        logs = DUKD(cfg, s).train_step(batch, ctx)  # type: ignore[arg-type]
        assert (logs["l_zoom_in"] < 1e-7) == zero, (official, logs["l_zoom_in"])
