"""PDD losses, EMA and a few method steps on tiny tensors (no shared data)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from sr_compress.compress.features import GeneralistFeatures, RandomConvFeatures
from sr_compress.compress.methods.pdd import (
    PDD,
    PDDConfig,
    UNetDiscriminatorSN,
    color_correct,
    ema_update,
    inter_loss,
    intra_loss,
)
from sr_compress.compress.wavelet import haar_dwt, haar_idwt, wavelet_l1

torch.set_num_threads(2)


class TinySR(nn.Module):
    def __init__(self, scale: int = 2) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3 * scale * scale, 3, padding=1))
        self.up = nn.PixelShuffle(scale)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest")
        return self.up(self.body(x)) + base


def _pair(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    s = TinySR()
    return s, copy.deepcopy(s)


def _feats(phi: nn.Module, model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    return phi(model(x))


@pytest.mark.parametrize("which", ["inter", "intra"])
def test_distance_losses_zero_when_equal_positive_otherwise_grad_to_s_only(which: str) -> None:
    phi = RandomConvFeatures(channels=(8, 16), seed=0)
    s, g = _pair()
    x_s, x_t = torch.rand(2, 3, 12, 12), torch.rand(2, 3, 12, 12)
    for p in g.parameters():
        p.requires_grad_(False)

    def loss_of(s_model: nn.Module) -> torch.Tensor:
        fs_s, fs_t = _feats(phi, s_model, x_s), _feats(phi, s_model, x_t)
        with torch.no_grad():
            fg_s, fg_t = _feats(phi, g, x_s), _feats(phi, g, x_t)
        if which == "inter":
            return inter_loss(fs_t, fg_t, fs_s, fg_s)
        return intra_loss(fs_t, fs_s, fg_t, fg_s)

    zero = loss_of(s)
    assert float(zero.detach()) == pytest.approx(0.0, abs=1e-6)
    zero.backward()  # finite gradient at S == G (no NaN from the norm at 0)
    assert all(torch.isfinite(p.grad).all() for p in s.parameters())
    s.zero_grad()
    with torch.no_grad():
        for p in s.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    loss = loss_of(s)
    assert float(loss) > 1e-6
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in s.parameters())
    assert all(p.grad is None for p in g.parameters())
    assert all(p.grad is None for p in phi.parameters())


def test_ema_update_formula() -> None:
    s, g = _pair()
    with torch.no_grad():
        for p in s.parameters():
            p.add_(1.0)
    before = [p.clone() for p in g.parameters()]
    ema_update(g, s, 0.9)
    for b, p_g, p_s in zip(before, g.parameters(), s.parameters(), strict=True):
        assert torch.allclose(p_g, 0.9 * b + 0.1 * p_s)


def test_wavelet_roundtrip_and_weights() -> None:
    x = torch.rand(2, 3, 8, 10)
    assert torch.allclose(haar_idwt(*haar_dwt(x)), x, atol=1e-6)
    y = x.clone()
    assert float(wavelet_l1(x, y)) == 0.0
    # a constant offset lives only in LL: the loss is the LL weight times the LL change (2x offset)
    assert float(wavelet_l1(x + 0.1, y, (1.0, 0.0, 0.0))) == pytest.approx(0.2, rel=1e-4)
    assert float(wavelet_l1(x + 0.1, y, (0.0, 1.0, 1.0))) == pytest.approx(0.0, abs=1e-6)


def test_color_correct_matches_statistics() -> None:
    sr = torch.rand(1, 3, 16, 16) * 0.5
    lr = torch.rand(1, 3, 8, 8) * 0.3 + 0.5
    out = color_correct(sr, lr)
    assert torch.allclose(out.mean((-2, -1)), lr.mean((-2, -1)), atol=0.02)


def test_generalist_features_stop_early() -> None:
    net = TinySR()
    phi = GeneralistFeatures(net, layers=1)
    feats = phi(torch.rand(1, 3, 10, 10))
    assert len(feats) == 1 and feats[0].shape == (1, 8, 10, 10)


class _Ctx:
    """Minimal stand-in for the engine's StepContext."""

    class _Acc:
        @staticmethod
        def unwrap_model(m: nn.Module) -> nn.Module:
            return m

    def __init__(self, student: nn.Module, iteration: int) -> None:
        self.accelerator = self._Acc()
        self.student = student
        self.teacher = None
        self.optimizer = torch.optim.Adam(student.parameters(), lr=1e-3)
        self.iteration = iteration
        self.clip_grad = None

    def step(self, loss, optimizer=None, params=None) -> None:  # noqa: ANN001
        opt = optimizer or self.optimizer
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@pytest.mark.parametrize("mode", ["ema", "static"])
def test_method_steps_update_s_and_g_as_configured(mode: str) -> None:
    teacher = TinySR()
    student = TinySR()
    cfg = PDDConfig(mode=mode, warmup=1, ema_decay=0.5, gan=True, d_channels=8, w_percep=0.0)
    m = PDD(cfg, scale=2)
    m.setup(student, teacher, torch.device("cpu"))
    for a, b in zip(student.parameters(), teacher.parameters(), strict=True):
        assert torch.equal(a, b)  # init_from_teacher
    g0 = [p.clone() for p in m.generalist.parameters()]
    batch = {"lr": torch.rand(2, 3, 12, 12), "hr": torch.rand(2, 3, 24, 24), "real_lr": torch.rand(2, 3, 12, 12)}
    ctx = _Ctx(student, 0)
    logs0 = m.train_step(batch, ctx)  # warm-up: supervised only
    assert "inter" not in logs0 and logs0["loss"] > 0
    ctx.iteration = 1
    logs1 = m.train_step(batch, ctx)
    assert logs1["inter"] > 0 and logs1["intra"] > 0 and "d_loss" in logs1
    moved = any(not torch.equal(a, b) for a, b in zip(g0, m.generalist.parameters(), strict=True))
    assert moved == (mode == "ema")
    assert all(not p.requires_grad for p in m.generalist.parameters())


def test_init_from_teacher_needs_same_arch() -> None:
    from sr_compress.errors import ConfigError

    class Other(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 12, 3, padding=1)

    m = PDD(PDDConfig(), scale=2)
    with pytest.raises(ConfigError, match="init_from_teacher"):
        m.setup(Other(), TinySR(), torch.device("cpu"))


def test_discriminator_shape() -> None:
    d = UNetDiscriminatorSN(nf=8)
    assert d(torch.rand(1, 3, 24, 24)).shape == (1, 1, 24, 24)


def test_vgg19_features_from_local_weights(tmp_path) -> None:
    from sr_compress.compress.features import VGG19_LAYERS, build_features, vgg19_trunk
    from sr_compress.errors import UserInputError

    # a torchvision-style whole-model file holding only the trunk up to conv2_2 (no download)
    trunk = vgg19_trunk(VGG19_LAYERS["conv2_2"])
    path = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in trunk.state_dict().items()}, path)
    phi = build_features("vgg19", weights=str(path), layers=("conv1_2", "conv2_2"))
    x = torch.rand(1, 3, 16, 16)
    feats = phi(x)
    assert [tuple(f.shape) for f in feats] == [(1, 64, 16, 16), (1, 128, 8, 8)]
    # pre-ReLU maps: conv1_2 of the normalised input, negative values kept
    ref = trunk[:3]((x - phi.mean) / phi.std)
    assert torch.allclose(feats[0], ref, atol=1e-5) and float(feats[0].min()) < 0
    assert all(not p.requires_grad for p in phi.parameters())
    with pytest.raises(UserInputError, match="feature-weights"):
        build_features("vgg19", weights=str(path))  # conv3_4 … conv5_4 missing from the file
    with pytest.raises(UserInputError, match="file not found"):
        build_features("vgg19", weights=str(tmp_path / "missing.pth"))
    with pytest.raises(UserInputError, match="--feature-weights"):
        build_features("vgg19")
    assert PDDConfig(feature_weights=str(path)).features == "vgg19"
    m = PDD(PDDConfig(feature_weights=str(path), vgg_layers=["conv1_2", "conv2_2"]), scale=2)
    m.setup(TinySR(), TinySR(), torch.device("cpu"))
    assert len(m.phi(torch.rand(1, 3, 8, 8))) == 2


def test_output_picks_the_ema_generalist_or_the_student() -> None:
    teacher, student = TinySR(), TinySR()
    m = PDD(PDDConfig(mode="ema", output="ema", warmup=0, ema_decay=0.5, w_percep=0.0), scale=2)
    m.setup(student, teacher, torch.device("cpu"))
    batch = {"lr": torch.rand(2, 3, 12, 12), "hr": torch.rand(2, 3, 24, 24), "real_lr": torch.rand(2, 3, 12, 12)}
    m.train_step(batch, _Ctx(student, 0))
    picked = m.final_module(student)
    assert picked is m.generalist
    assert any(not torch.equal(a, b) for a, b in zip(picked.parameters(), student.parameters(), strict=True))
    m.cfg.output = "student"
    assert m.final_module(student) is student
    with pytest.raises(ValueError, match="output: ema needs pdd.mode: ema"):
        PDDConfig(mode="static", output="ema")
