"""Distillation engine: config loading, each method trains (loss decreases), run directory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from sr_compress.compress.base import list_methods
from sr_compress.compress.engine import load_distill_config, run_distillation
from sr_compress.errors import ConfigError, UserInputError


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny convolutions: a second thread only adds contention on a shared, loaded machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_images(folder: Path, n: int = 4, size: int = 48) -> Path:
    """Smooth synthetic photos (learnable in a few steps) with a little texture."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        img = np.stack([np.sin(xx * 6 + i), np.cos(yy * 5 - i), np.sin((xx + yy) * 4 + i)], -1) * 0.4 + 0.5
        img = img + rng.normal(0, 0.02, img.shape)
        Image.fromarray((img.clip(0, 1) * 255).astype(np.uint8)).save(folder / f"im{i}.png")
    return folder


def make_teacher(path: Path, scale: int = 2) -> Path:
    from sr_compress.models.load import save_model
    from sr_compress.models.students import build_student

    torch.manual_seed(123)
    save_model(build_student("edsr:c8b1", scale), path)
    return path


def tiny_overrides(tmp_path: Path, method: str, **extra: object) -> dict:
    imgs = make_images(tmp_path / "imgs")
    over = {
        "method": method, "student": "edsr:c8b1", "scale": 2, "data.path": [str(imgs)],
        "data.patch_size": 8, "data.batch_size": 4, "train.iterations": 20, "train.lr": 2e-3,
        "train.scheduler": "constant", "train.checkpoint_every": 1000, "train.log_every": 1,
        "train.val_every": 1000,
    }
    if method != "scratch":
        over["teacher"] = str(make_teacher(tmp_path / "teacher.pth"))
    over.update(extra)
    return over


def _losses(out: Path, key: str = "loss") -> list[float]:
    import csv

    with open(out / "log.csv") as fh:
        return [float(r[key]) for r in csv.DictReader(fh)]


# --------------------------------------------------------------------------- config


def test_config_yaml_method_section_and_overrides(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "method": "kd", "teacher": "t.pth", "data": {"path": ["a"]}, "train": {"lr": 3e-4},
        "kd": {"w_kd": 2.0},
    }))
    cfg = load_distill_config(recipe, {"train.iterations": 7, "kd.w_pix": 0.5, "data.path": "x,y"})
    assert cfg.method == "kd" and cfg.train.lr == 3e-4 and cfg.train.iterations == 7
    assert cfg.method_args == {"w_pix": 0.5, "w_kd": 2.0}
    assert cfg.data.path == ["x", "y"]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"train": {"lrr": 1}}, "train.lrr"),
        ({"dukd": {"qq": 0.1}}, "dukd.qq"),
        ({"bogus": 1}, "bogus"),
        ({"dukd": {"q": 1.5}}, "dukd.q"),
        ({"train": {"scheduler": "linear"}}, "train.scheduler"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, data: dict, needle: str) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"method": "dukd", "teacher": "t", "data": {"path": ["a"]}, **data}))
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        load_distill_config(recipe, {})


def test_config_other_method_section_and_missing_inputs(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"method": "dukd", "teacher": "t", "data": {"path": ["a"]}, "dukd": {}}))
    # another method's section is ignored when switching methods, but its keys are not used
    cfg = load_distill_config(recipe, {"method": "kd"})
    assert cfg.method == "kd" and cfg.method_args == {"w_pix": 1.0, "w_kd": 1.0}
    with pytest.raises(ConfigError, match="needs a teacher"):
        load_distill_config(None, {"method": "kd", "data.path": ["a"]})
    with pytest.raises(ConfigError, match="needs training images"):
        load_distill_config(None, {"method": "scratch"})
    with pytest.raises(UserInputError, match="unknown distillation method 'nope'"):
        load_distill_config(None, {"method": "nope"})


def test_shipped_recipes_parse() -> None:
    root = Path(__file__).resolve().parents[2] / "configs" / "distill"
    for name in ("scratch_x4", "kd_x4", "dukd_x4", "dukd_x2", "smoke"):
        cfg = load_distill_config(root / f"{name}.yaml", {"teacher": "t", "data.path": ["a"]})
        assert cfg.train.iterations >= 1
    dukd = load_distill_config(root / "dukd_x4.yaml", {"teacher": "t", "data.path": ["a"]})
    assert dukd.method_args["q"] == 0.3 and dukd.method_args["w_pix"] == 5.0 and dukd.method_args["w_kd"] == 1.0
    assert dukd.train.ema_decay == 0.999 and dukd.train.betas == (0.9, 0.99)


# --------------------------------------------------------------------------- training


# Per-method settings of the generic training test; a method not named here (a new one, the
# toys in tests/plugins/) runs with the defaults, which is the point: it cannot go untested.
METHOD_OVERRIDES: dict[str, Callable[[dict], dict]] = {
    # the test teacher is random, so GT and teacher targets conflict: distillation objective only
    "kd": lambda over: {"kd.w_pix": 0.0},
    "dukd": lambda over: {"dukd.w_pix": 0.0},
    "pdd": lambda over: {"data.real_lr": over["data.path"]},  # the training images stand in as real LR
}
# methods whose main loss is not expected to fall in 20 tiny iterations, and why
LOSS_MAY_NOT_FALL: dict[str, str] = {
    "pdd": "the student starts as the teacher (PDD's default) and every batch draws a new random "
           "degradation, so 20 steps only show the loss staying finite",
}


@pytest.mark.parametrize("method", list_methods())
def test_method_trains_and_loss_decreases(tmp_path: Path, method: str) -> None:
    over = tiny_overrides(tmp_path, method)
    over.update(METHOD_OVERRIDES.get(method, lambda over: {})(over))
    cfg = load_distill_config(None, over)
    res = run_distillation(cfg, tmp_path / "run", progress=False)
    losses = _losses(tmp_path / "run")
    assert len(losses) == 20 and all(np.isfinite(losses))
    if method not in LOSS_MAY_NOT_FALL:
        assert np.mean(losses[-6:]) < 0.8 * np.mean(losses[:3]), losses
    assert res.completed and res.student.params > 0
    if method == "dukd":
        vals = _losses(tmp_path / "run", "loss_upcycle")  # the second (upcycling) step's loss
        assert np.mean(vals[-6:]) < 0.9 * np.mean(vals[:3]), vals


def test_run_directory_contents_and_student_reloads(tmp_path: Path) -> None:
    from sr_compress.models.load import load_model

    over = tiny_overrides(tmp_path, "kd", **{
        "train.iterations": 6, "train.ema_decay": 0.9, "train.val_every": 3,
        "data.val": [str(tmp_path / "imgs")], "data.val_max_images": 2,
    })
    cfg = load_distill_config(None, over)
    res = run_distillation(cfg, tmp_path / "run", progress=False)
    out = tmp_path / "run"
    for f in ("student.pth", "report.md", "report.json", "curves.png", "log.csv", "val.csv", "config.yaml"):
        assert (out / f).is_file(), f
    rep = json.loads((out / "report.json").read_text())
    assert rep["teacher"]["params"] > 0 and rep["student"]["macs"] > 0
    assert set(rep["metrics"]["final"]) == {"student", "teacher", "bicubic"}
    assert "## Final validation" in (out / "report.md").read_text()
    # the exported student is the EMA model and reloads exactly
    desc = load_model(out / "student.pth", 2)
    x = torch.rand(1, 3, 10, 10)
    with torch.no_grad():
        assert torch.allclose(desc.model(x), res.student.model(x), atol=1e-6)
    # the stored config is a valid recipe reproducing this run
    again = load_distill_config(out / "config.yaml", {})
    assert again == cfg
    # a second run into the same folder must not silently overwrite it
    with pytest.raises(UserInputError, match="--resume"):
        run_distillation(cfg, out, progress=False)


# --------------------------------------------------------------------------- schedule, precision, clip, EMA


def test_schedules_match_torch_schedulers() -> None:
    from sr_compress.compress.schedule import LRSchedule

    def torch_lrs(make) -> list[float]:  # noqa: ANN001
        opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        sched = make(opt)
        out = []
        for _ in range(12):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    cos = LRSchedule(1e-3, 12, "cosine", eta_min=1e-5)
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=12, eta_min=1e-5))
    assert np.allclose([cos.lr_at(i) for i in range(12)], ref, rtol=1e-9, atol=1e-12)
    ms = LRSchedule(1e-3, 12, "multistep", milestones=[4, 9], gamma=0.5)
    ref = torch_lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[4, 9], gamma=0.5))
    assert np.allclose([ms.lr_at(i) for i in range(12)], ref)


def test_multistep_schedule_reaches_the_optimizer(tmp_path: Path) -> None:
    import csv

    over = tiny_overrides(tmp_path, "scratch", **{
        "train.iterations": 6, "train.scheduler": "multistep", "train.milestones": [2, 4], "train.gamma": 0.1,
    })
    run_distillation(load_distill_config(None, over), tmp_path / "run", progress=False)
    with open(tmp_path / "run" / "log.csv") as fh:
        lrs = [float(r["lr"]) for r in csv.DictReader(fh)]
    assert np.allclose(lrs, [2e-3, 2e-3, 2e-4, 2e-4, 2e-5, 2e-5])


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains(tmp_path: Path, precision: str) -> None:
    # accelerate autocasts the student and teacher forwards (CPU autocast supports both dtypes
    # in torch >= 2.3; fp16 adds a grad scaler); losses stay finite, master weights fp32
    over = tiny_overrides(tmp_path, "dukd", **{"train.iterations": 3, "train.mixed_precision": precision})
    res = run_distillation(load_distill_config(None, over), tmp_path / "run", progress=False)
    assert res.completed and np.isfinite(_losses(tmp_path / "run")).all()
    assert all(p.dtype == torch.float32 for p in res.student.model.parameters())


def test_grad_clipping_bounds_the_update(tmp_path: Path) -> None:
    from accelerate import Accelerator

    from sr_compress.compress.base import StepContext

    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    acc = Accelerator(cpu=True)
    ctx = StepContext(accelerator=acc, student=model, teacher=None, optimizer=opt, scale=2, iteration=0,
                      total_iterations=1, clip_grad=0.5, device=torch.device("cpu"))
    before = [p.detach().clone() for p in model.parameters()]
    ctx.step(1e4 * model(torch.ones(2, 4)).sum())
    moved = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before, strict=True)])
    assert moved.norm() == pytest.approx(0.5, rel=1e-4)  # SGD lr 1: the step is the clipped gradient


def test_ema_follows_the_bias_free_rule() -> None:
    from sr_compress.compress.ema import ModelEMA

    model = torch.nn.Linear(2, 2)
    ema = ModelEMA(model, 0.75)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(4.0)
    ema.update(model)
    assert torch.allclose(ema.module.weight, start + 1.0)  # 0.75 * w + 0.25 * (w + 4)
