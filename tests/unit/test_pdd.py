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


@pytest.mark.parametrize("which", ["inter", "intra"])
def test_distance_losses_never_send_gradient_to_the_generalist(which: str) -> None:
    """G's features are targets: even when the caller hands them over with a graph (G trainable,
    no no_grad), the loss detaches them."""
    phi = RandomConvFeatures(channels=(8, 16), seed=0)
    s, g = _pair()
    with torch.no_grad():
        for p in s.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    x_s, x_t = torch.rand(2, 3, 12, 12), torch.rand(2, 3, 12, 12)
    fs_s, fs_t, fg_s, fg_t = phi(s(x_s)), phi(s(x_t)), phi(g(x_s)), phi(g(x_t))
    loss = inter_loss(fs_t, fg_t, fs_s, fg_s) if which == "inter" else intra_loss(fs_t, fs_s, fg_t, fg_s)
    loss.backward()
    assert all(p.grad is None for p in g.parameters())
    assert any(p.grad is not None for p in s.parameters())


def test_feature_extractor_is_frozen() -> None:
    from sr_compress.compress.features import build_features

    for kind in ("random", "generalist"):
        phi = build_features(kind, generalist=TinySR(), seed=0)
        assert not any(p.requires_grad for p in phi.parameters()), kind


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


def _Ctx(student: nn.Module, iteration: int):  # noqa: N802 - was a class; the engine's StepContext now
    """The engine's own StepContext (its ``step`` is part of what is tested)."""
    from accelerate import Accelerator

    from sr_compress.compress.base import StepContext

    return StepContext(accelerator=Accelerator(cpu=True), student=student, teacher=None,
                       optimizer=torch.optim.Adam(student.parameters(), lr=1e-3), scale=2, iteration=iteration,
                       total_iterations=10, clip_grad=None, device=torch.device("cpu"))


@pytest.mark.parametrize("mode", ["ema", "static"])
def test_method_steps_update_s_and_g_as_configured(mode: str) -> None:
    teacher = TinySR()
    student = TinySR()
    cfg = PDDConfig(mode=mode, warmup=1, ema_decay=0.5, gan=True, d_channels=4, w_percep=0.0, d_init_iters=0)
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


def _batch(b: int = 2) -> dict[str, torch.Tensor]:
    return {"lr": torch.rand(b, 3, 12, 12), "hr": torch.rand(b, 3, 24, 24), "real_lr": torch.rand(b, 3, 12, 12)}


class _RecordingD(nn.Module):
    """A discriminator that records what it is shown."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3, padding=1)
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.conv(x)


@pytest.mark.parametrize("iteration", [0, 5])
def test_discriminator_real_is_gt_and_fake_is_s_of_synthetic_only(iteration: int) -> None:
    """Official SRGANRefModel: D learns real = y_s, fake = S(x_s); S's adversarial term scores
    S(x_s) during the warm-up and [S(x_s), S(x_t)] after it."""
    teacher, student = TinySR(), TinySR()
    m = PDD(PDDConfig(warmup=2, gan=True, d_init_iters=0, w_percep=0.0), scale=2)
    m.setup(student, teacher, torch.device("cpu"))
    m.disc = _RecordingD()
    m.d_opt = torch.optim.Adam(m.disc.parameters(), lr=1e-3)
    batch = _batch()
    with torch.no_grad():
        s_xs, s_xt = student(batch["lr"]), student(batch["real_lr"])
    m.train_step(batch, _Ctx(student, iteration))
    gen_in, real, fake = m.disc.seen
    want_gen = torch.cat([s_xs, s_xt]) if iteration >= 2 else s_xs
    torch.testing.assert_close(gen_in, want_gen)
    torch.testing.assert_close(real, batch["hr"])
    torch.testing.assert_close(fake, s_xs)  # S(x_s) before S's update, and not S(x_t)


def test_discriminator_only_phase_leaves_the_student() -> None:
    teacher, student = TinySR(), TinySR()
    m = PDD(PDDConfig(mode="static", gan=True, d_init_iters=2, d_channels=8), scale=2)
    m.setup(student, teacher, torch.device("cpu"))
    s0, d0 = copy.deepcopy(student.state_dict()), copy.deepcopy(m.disc.state_dict())
    for it in range(2):
        m.train_step(_batch(), _Ctx(student, it))
    assert all(torch.equal(v, s0[k]) for k, v in student.state_dict().items())
    assert any(not torch.equal(v, d0[k]) for k, v in m.disc.state_dict().items())
    m.train_step(_batch(), _Ctx(student, 2))
    assert any(not torch.equal(v, s0[k]) for k, v in student.state_dict().items())


@pytest.mark.parametrize(("mode", "detach"), [("static", True), ("ema", False)])
def test_domain_detach_defaults_and_effect(mode: str, detach: bool) -> None:
    """Official domain_opt_detach (static recipe: true, EMA recipe: false): with it, the distance
    terms send no gradient through S(x_s)."""
    teacher, student = TinySR(), TinySR()
    with torch.no_grad():
        for p in student.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    m = PDD(PDDConfig(mode=mode, init_from_teacher=False, w_percep=0.0), scale=2)
    m.setup(student, teacher, torch.device("cpu"))
    assert m.domain_detach is detach
    b = _batch()
    x_s = b["lr"].requires_grad_(True)
    parts, _, _ = m.losses(student, x_s, b["hr"], b["real_lr"], distill=True)
    (g,) = torch.autograd.grad(parts["inter"] + parts["intra"], x_s, allow_unused=True)
    assert (g is None or not g.any()) == detach


def test_seed_follows_train_seed_and_redraws_phi_and_synthetic_data(tmp_path) -> None:
    import numpy as np
    from PIL import Image

    for i in range(2):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
            tmp_path / f"{i}.png")

    class _Data:
        path, real_lr, patch_size, augment = [str(tmp_path)], [str(tmp_path)], 8, True

    out = []
    for seed in (3, 4):
        torch.manual_seed(seed)  # what the engine's set_seed(train.seed) does before build_method
        m = PDD(PDDConfig(), scale=2)
        assert m.seed == seed
        m.setup(TinySR(), TinySR(), torch.device("cpu"))
        ds = m.make_dataset(_Data(), 2)
        out.append((torch.cat([p.flatten() for p in m.phi.parameters()]), ds[0]["lr"], ds[0]["real_lr"]))
    assert all(not torch.equal(a, b) for a, b in zip(out[0], out[1], strict=True))
    torch.manual_seed(3)
    assert PDD(PDDConfig(seed=11), scale=2).seed == 11


def test_output_defaults_to_the_ema_network_in_ema_mode() -> None:
    teacher, student = TinySR(), TinySR()
    m = PDD(PDDConfig(mode="ema"), scale=2)
    m.setup(student, teacher, torch.device("cpu"))
    assert m.final_module(student) is m.generalist
    st = PDD(PDDConfig(mode="static"), scale=2)
    st.setup(student, teacher, torch.device("cpu"))
    assert st.final_module(student) is student


@pytest.mark.parametrize("mode", ["bicubic", "bilinear"])
def test_official_random_resize_is_not_antialiased(mode: str) -> None:
    """The official RandomResize is cv2.resize: a downscale samples the image (aliasing) instead
    of low-pass filtering it. Interior pixels equal torch's non-antialiased interpolation, and
    4-pixel stripes (period 8, above the x4 output's Nyquist limit) do not average out to grey."""
    import numpy as np
    import torch.nn.functional as F

    from sr_compress.data.degradations import RandomResizeDegradation, make_pipeline

    rng_all = np.random.default_rng(0)
    hr = torch.from_numpy(rng_all.random((3, 32, 32), dtype=np.float32))
    deg = RandomResizeDegradation(4, modes=(mode,))
    lr = deg(hr, np.random.default_rng(0))
    ref = F.interpolate(hr[None], size=(8, 8), mode=mode, align_corners=False, antialias=False)[0]
    ref = (ref.clamp(0, 1) * 255).round() / 255
    torch.testing.assert_close(lr[:, 2:-2, 2:-2], ref[:, 2:-2, 2:-2], atol=1.5 / 255, rtol=0)
    board = ((torch.arange(32) % 8) < 4).float().expand(3, 32, 32).contiguous()
    assert (deg(board, np.random.default_rng(0)) - 0.5).abs().mean() > 0.45  # full contrast kept
    smooth = RandomResizeDegradation(4, modes=(mode,), antialias=True)(board, np.random.default_rng(0))
    assert (smooth - 0.5).abs().mean() < 0.4  # the antialiasing filter attenuates it
    assert make_pipeline("resize", 4).antialias is False


def test_pdd_table_seed_sweep_redraws_every_rng(monkeypatch, tmp_path) -> None:
    """benchmarks/pdd_table.py --seeds: each adaptation run sets pdd.seed with train.seed (φ and
    the synthetic data re-drawn) and keeps student.pth = S (G is read from the checkpoint)."""
    import pdd_table  # benchmarks/ is on sys.path (tests/conftest.py)

    seen = []
    monkeypatch.setattr(pdd_table, "run_distillation", lambda cfg, out, progress=False: seen.append(cfg))
    for seed in (1, 2):
        pdd_table.adapt(tmp_path / str(seed), tmp_path / "gen.pth", [tmp_path], 3, seed)
    assert [(c.train.seed, c.method_args["seed"], c.method_args["output"]) for c in seen] == \
        [(1, 1, "student"), (2, 2, "student")]
