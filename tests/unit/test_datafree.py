"""DFSR data-free distillation: generator, loss terms and gradient flow, progressive growth."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from sr_compress.compress.base import StepContext, get_method
from sr_compress.compress.config import DistillConfig
from sr_compress.compress.generators import DFSRGenerator, image_grid
from sr_compress.compress.methods.datafree import DataFreeConfig, DataFreeMethod, stage_blocks
from sr_compress.config import from_dict
from sr_compress.errors import ConfigError
from sr_compress.models.archs.edsr import EDSR

SCALE = 4


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convs on a shared machine: a second thread only adds contention
    yield
    torch.set_num_threads(n)


def TinyStudent(blocks: int = 4) -> nn.Module:
    """The real EDSR student class, narrow so the tests stay fast."""
    return EDSR(num_feat=8, num_block=blocks, scale=SCALE)


def _teacher() -> nn.Module:
    torch.manual_seed(1)
    t = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 48, 3, padding=1), nn.PixelShuffle(4))
    for p in t.parameters():
        p.requires_grad_(False)
    return t.eval()


def _method(**kw) -> DataFreeMethod:
    args = {"batch_size": 4, "lr_size": 8, "latent_dim": 16, "gen_lr": 1e-3, "stu_step": 2} | kw
    return DataFreeMethod(DataFreeConfig(**args), SCALE)


def _ctx(student, teacher, opt, it=0, total=10) -> StepContext:
    from accelerate import Accelerator

    return StepContext(
        accelerator=Accelerator(cpu=True), student=student, teacher=teacher, optimizer=opt, scale=SCALE,
        iteration=it, total_iterations=total, clip_grad=1.0, device=torch.device("cpu"),
    )


def test_registered_and_config_from_yaml_section() -> None:
    cls = get_method("datafree")
    assert cls is DataFreeMethod and cls.needs_data is False
    cfg = from_dict(DataFreeConfig, {"generator": "noise", "stu_step": 5})
    assert cfg.generator == "noise" and cfg.reduction == "sum" and cfg.norm == "mse"
    assert DistillConfig(method="datafree").method == "datafree"


@pytest.mark.parametrize(
    "kw",
    [{"generator": "vae"}, {"reduction": "max"}, {"norm": "l2"}, {"stu_step": 0}, {"inc_num": 3, "inc_step": 0},
     {"stage_lr": "cyclic"}],
)
def test_config_rejects_bad_values(kw) -> None:
    with pytest.raises(ValueError, match="datafree"):
        DataFreeConfig(**kw)


@pytest.mark.parametrize("side", [12, 10, 24])
def test_generator_shape_and_range(side: int) -> None:
    g = DFSRGenerator(latent_dim=32, out_size=side)
    out = g(torch.randn(5, 32))
    assert out.shape == (5, 3, side, side)
    assert out.min() >= 0 and out.max() <= 1
    assert out.std() > 0.01  # not a constant image
    grid = image_grid(out, nrow=3, zoom=2)
    assert grid.dtype.name == "uint8" and grid.shape[2] == 3


def test_loss_terms_match_their_formulas_and_reach_the_generator_through_s_and_t() -> None:
    from sr_compress.data.imresize import imresize

    m = _method()
    student, teacher = TinyStudent(), _teacher()
    m.setup(student, teacher, torch.device("cpu"))
    x = m.generator(torch.randn(4, 16)).detach().requires_grad_(True)
    losses = m.generator_losses(x, student, teacher)
    sr_t, sr_s = teacher(x), student(x)
    d = ((sr_s - sr_t) ** 2).sum()
    rec = ((x - imresize(sr_t, scale=1 / SCALE).clamp(0, 1)) ** 2).sum()
    torch.testing.assert_close(losses["adv"], -torch.log1p(d))
    torch.testing.assert_close(losses["rec"], rec)
    # the gradient w.r.t. the generated images goes through S *and* T (official: teacher_sr is
    # not detached in the generator loss); detaching T's output gives a different gradient
    (got,) = torch.autograd.grad(losses["total"], x)
    (want,) = torch.autograd.grad(-torch.log1p(d) + rec, x)
    torch.testing.assert_close(got, want)
    sr_t_d = sr_t.detach()
    (detached,) = torch.autograd.grad(-torch.log1p(((student(x) - sr_t_d) ** 2).sum())
                                      + ((x - imresize(sr_t_d, scale=1 / SCALE).clamp(0, 1)) ** 2).sum(), x)
    assert (got - detached).abs().max() > 1e-6


def test_generator_step_updates_only_generator_and_raises_the_disagreement() -> None:
    """One generator step (L_adv only) moves G towards inputs where S and T disagree more,
    changes neither S nor its gradients, and re-enables the student's grads."""
    m = _method(w_rec=0.0, gen_lr=1e-2, reduction="mean")
    student, teacher = TinyStudent(), _teacher()
    m.setup(student, teacher, torch.device("cpu"))
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    z = torch.randn(16, 16)

    def gap() -> float:
        with torch.no_grad():
            x = m.generator(z)
            return float(m.distance(student(x), teacher(x)))

    s0, before = copy.deepcopy(student.state_dict()), gap()
    m.generator_step(_ctx(student, teacher, opt, it=1))
    assert gap() > before
    assert all(torch.equal(v, s0[k]) for k, v in student.state_dict().items())
    assert all(p.grad is None for p in student.parameters()), "the generator step left student grads"
    assert all(p.requires_grad for p in student.parameters()), "student grads must be re-enabled"


def test_only_the_student_gradient_is_clipped() -> None:
    """Official DFSR clips the student's gradient (clip 0.4) and never the generator's."""
    m = _method(stu_step=1)
    student, teacher = TinyStudent(), _teacher()
    m.setup(student, teacher, torch.device("cpu"))
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    ctx = _ctx(student, teacher, opt, it=0)
    ctx.clip_grad = 1e-3
    m.train_step(None, ctx)  # student step (clipped), then a generator step (stu_step 1)

    def norm(mod: nn.Module) -> float:
        return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in mod.parameters()
                                                           if p.grad is not None])))

    assert norm(student) <= 1e-3 * 1.01
    assert norm(m.generator) > 1e-2


def test_frozen_generator_is_a_fixed_random_generator() -> None:
    m = _method(generator="frozen", stu_step=1)
    student, teacher = TinyStudent(), _teacher()
    m.setup(student, teacher, torch.device("cpu"))
    assert m.generator is not None and m.extra_optimizers() == {} and m.extra_modules() == {}
    g0 = copy.deepcopy(m.generator.state_dict())
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    for it in range(3):
        logs = m.train_step(None, _ctx(student, teacher, opt, it=it))
    assert "g_loss" not in logs
    assert all(torch.equal(v, g0[k]) for k, v in m.generator.state_dict().items())
    x = m.sample_inputs(torch.device("cpu"))
    assert x.shape == (4, 3, 8, 8) and x.std() > 0.01  # generated images, not noise or constant
    again = _method(generator="frozen")  # the frozen weights travel with the method state
    again.setup(TinyStudent(), _teacher(), torch.device("cpu"))
    again.load_state_dict(m.state_dict())
    assert all(torch.equal(v, g0[k]) for k, v in again.generator.state_dict().items())


@pytest.mark.parametrize("kind", ["cosine", "multistep"])
def test_student_lr_schedule_restarts_per_stage(kind: str) -> None:
    from sr_compress.compress.schedule import LRSchedule

    sched = LRSchedule(1e-3, 10, kind, milestones=[2], gamma=0.1, eta_min=0.0)
    m = _method(inc_num=2, inc_step=5)
    m.setup(TinyStudent(blocks=4), _teacher(), torch.device("cpu"))
    stage = LRSchedule(1e-3, 5, kind, milestones=[2], gamma=0.1, eta_min=0.0)
    assert [m.lr_at(sched, i) for i in range(10)] == [stage.lr_at(i % 5) for i in range(10)]
    assert m.lr_at(sched, 5) == 1e-3 and m.lr_at(sched, 4) < 1e-3
    glob = _method(inc_num=2, inc_step=5, stage_lr="global")
    glob.setup(TinyStudent(blocks=4), _teacher(), torch.device("cpu"))
    assert [glob.lr_at(sched, i) for i in range(10)] == [sched.lr_at(i) for i in range(10)]


def test_engine_takes_the_student_lr_from_the_method(tmp_path) -> None:
    """The engine asks the method for the LR (so DFSR's per-stage restart reaches the optimiser)."""
    from sr_compress.compress.base import METHODS
    from sr_compress.compress.engine import load_distill_config, run_distillation
    from sr_compress.compress.methods.scratch import Scratch
    from tests.unit.test_engine import tiny_overrides

    seen: list[float] = []

    class SentinelLR(Scratch):
        name = "sentinel_lr"

        def lr_at(self, schedule, it):
            return 1e-3 * (it + 1)  # not what the constant schedule would give

        def train_step(self, batch, ctx):
            seen.append(ctx.optimizer.param_groups[0]["lr"])
            return super().train_step(batch, ctx)

    METHODS.add("sentinel_lr", SentinelLR)
    try:
        over = tiny_overrides(tmp_path, "scratch", **{"train.iterations": 3})
        over["method"] = "sentinel_lr"
        run_distillation(load_distill_config(None, over), tmp_path / "run", progress=False)
    finally:
        METHODS.remove("sentinel_lr")
    assert seen == pytest.approx([1e-3, 2e-3, 3e-3])


def test_student_step_leaves_generator_and_steps_generator_every_stu_step() -> None:
    m = _method(stu_step=3)
    student, teacher = TinyStudent(), _teacher()
    m.setup(student, teacher, torch.device("cpu"))
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    g0 = copy.deepcopy(m.generator.state_dict())
    s0 = copy.deepcopy(student.state_dict())
    for it in range(2):
        logs = m.train_step(None, _ctx(student, teacher, opt, it=it))
        assert logs["g_loss"] == 0.0 and logs["loss"] > 0
    assert all(torch.equal(v, g0[k]) for k, v in m.generator.state_dict().items())
    assert any(not torch.equal(v, s0[k]) for k, v in student.state_dict().items())
    logs = m.train_step(None, _ctx(student, teacher, opt, it=2))  # 3rd student update → G update
    assert logs["g_adv"] < 0
    assert any(not torch.equal(v, g0[k]) for k, v in m.generator.state_dict().items())


def test_noise_generator_inputs() -> None:
    m = _method(generator="noise")
    m.setup(TinyStudent(), _teacher(), torch.device("cpu"))
    assert m.generator is None and m.extra_modules() == {} and m.extra_optimizers() == {}
    x = m.sample_inputs(torch.device("cpu"))
    assert x.shape == (4, 3, 8, 8) and 0 <= x.min() and x.max() <= 1 and abs(x.mean() - 0.5) < 0.1


def test_stage_schedule_intended_formula() -> None:
    assert stage_blocks(18, 18) == list(range(1, 19))
    assert stage_blocks(18, 3) == [6, 12, 18]
    assert stage_blocks(4, 2) == [2, 4]
    assert stage_blocks(4, 1) == [4]
    m = _method(inc_num=2, inc_step=5)
    m.setup(TinyStudent(blocks=4), _teacher(), torch.device("cpu"))
    assert m.growth_iterations() == [5]


def test_progressive_growth_keeps_old_weights() -> None:
    m = _method(inc_num=2, inc_step=3)
    student = TinyStudent(blocks=4)
    m.setup(student, _teacher(), torch.device("cpu"))
    assert student.num_block == 2
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    for it in range(3):
        m.train_step(None, _ctx(student, _teacher(), opt, it=it))
    before = copy.deepcopy(student.state_dict())
    m.grow_student(student, 3)
    assert student.num_block == 4
    after = student.state_dict()
    for k, v in before.items():
        assert torch.equal(after[k], v), f"{k} changed on growth"
    assert any(k not in before for k in after), "growth added no parameters"
    m.grow_student(student, 4)  # not a growth iteration: no change
    assert student.num_block == 4
    # the first stage trained the first blocks of the full-depth student; growth adds identities
    x = torch.rand(1, 3, 8, 8)
    shallow = EDSR(num_feat=8, num_block=2, scale=SCALE)
    shallow.load_state_dict({k: v for k, v in after.items() if k in shallow.state_dict()})
    assert torch.allclose(student(x), shallow(x), atol=1e-5)


def test_growth_after_budget_is_rejected() -> None:
    m = _method(inc_num=2, inc_step=50)
    student = TinyStudent()
    m.setup(student, _teacher(), torch.device("cpu"))
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    with pytest.raises(ConfigError, match="inc_step"):
        m.train_step(None, _ctx(student, _teacher(), opt, it=0, total=50))


def test_student_loss_decreases_and_finalize_writes_grid(tmp_path) -> None:
    for gen in ("gan", "noise"):
        torch.manual_seed(0)
        m = _method(generator=gen, stu_step=5, reduction="mean")
        student, teacher = TinyStudent(), _teacher()
        m.setup(student, teacher, torch.device("cpu"))
        opt = torch.optim.Adam(student.parameters(), lr=3e-3)
        losses = [m.train_step(None, _ctx(student, teacher, opt, it=it))["mse"] for it in range(40)]
        first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
        assert last < 0.7 * first, (gen, first, last)
        out = m.finalize(tmp_path / gen)
        assert (tmp_path / gen / out["generated_grid"]).stat().st_size > 0


def test_growth_schedule_longer_than_the_run_is_rejected_when_the_config_loads() -> None:
    from sr_compress.compress.engine import load_distill_config
    from sr_compress.errors import ConfigError

    base = {"method": "datafree", "teacher": "t.pth", "train.iterations": 100, "datafree.inc_num": 3}
    with pytest.raises(ConfigError, match="last growth stage starts at iteration 100 but train.iterations is 100"):
        load_distill_config(None, {**base, "datafree.inc_step": 50})
    cfg = load_distill_config(None, {**base, "datafree.inc_step": 49})
    assert cfg.method_args["inc_step"] == 49
