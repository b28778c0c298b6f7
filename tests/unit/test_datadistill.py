"""Dataset distillation: clustering, augmentation, GSDD's DM loss, output format and storage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from sr_compress.cli import cli, run_cli
from sr_compress.compress.datadistill import augment
from sr_compress.compress.datadistill.common import (
    DataDistillConfig,
    TeacherLabelDataset,
    allocate,
    kcenter_greedy,
    kmeans,
    load_datadistill_config,
    open_training_set,
    read_manifest,
    run_data_distillation,
)
from sr_compress.compress.datadistill.dm import DMArgs, diversity, dm_loss, optimise_latents, sample_embedder
from sr_compress.compress.datadistill.generator import save_generator
from sr_compress.compress.datadistill.vae import PatchVAE, VAEConfig


class TinySR(nn.Module):
    """A frozen stand-in teacher: conv → pixel shuffle, plus the bicubic-ish skip of nearest upsampling."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 8, 3, padding=1)
        self.up = nn.Conv2d(8, 3 * scale * scale, 3, padding=1)
        self.ps = nn.PixelShuffle(scale)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest")
        return skip + 0.1 * self.ps(self.up(torch.relu(self.body(x))))


def _textures(folder: Path, n: int = 6, size: int = 56, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        f = 0.05 + 0.1 * (i % 3)
        base = 127 + 100 * np.sin(f * xx + 0.3 * i * yy)
        img = np.stack([base, base[::-1], base.T], -1) + rng.normal(0, 8 * (i % 2), (size, size, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


# ----------------------------------------------------------------------------- clustering
def test_kmeans_recovers_separated_blobs() -> None:
    g = torch.Generator().manual_seed(1)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    truth = torch.arange(3).repeat_interleave(40)
    x = centres[truth] + 0.5 * torch.randn(120, 2, generator=g)
    found, labels = kmeans(x, 3, seed=0)
    # each true blob maps to exactly one cluster
    mapping = {int(t): set(labels[truth == t].tolist()) for t in range(3)}
    assert all(len(v) == 1 for v in mapping.values())
    assert len({next(iter(v)) for v in mapping.values()}) == 3
    assert torch.cdist(found, centres).min(1).values.max() < 0.5


def test_kmeans_rejects_too_many_clusters() -> None:
    from sr_compress.errors import UserInputError

    with pytest.raises(UserInputError):
        kmeans(torch.zeros(2, 3), 3)


def test_kcenter_picks_far_points_and_bounds_radius() -> None:
    g = torch.Generator().manual_seed(0)
    corners = torch.tensor([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0], [20.0, 20.0]])
    x = torch.cat([corners[i] + 0.3 * torch.randn(25, 2, generator=g) for i in range(4)])
    idx = kcenter_greedy(x, 4, seed=3)
    assert len(set(idx.tolist())) == 4
    # one pick per corner blob, hence covering radius ~ blob radius (2-approximation of the optimum)
    assert sorted((idx // 25).tolist()) == [0, 1, 2, 3]
    radius = torch.cdist(x, x[idx]).min(1).values.max()
    assert radius < 2.0


def test_allocate_keeps_total_when_classes_are_small() -> None:
    assert allocate([10, 10, 10], 3) == [3, 3, 3]
    assert allocate([1, 10, 6], 3) == [1, 5, 3]  # class 0's shortfall goes to the biggest class
    assert sum(allocate([0, 2, 50, 3], 4)) == 16
    assert allocate([1, 1], 3) == [1, 1]  # not enough candidates at all


# ----------------------------------------------------------------------------- augmentation
def test_siamese_augmentation_same_omega_and_differentiable() -> None:
    g = torch.Generator().manual_seed(0)
    p = augment.sample_params(g)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    a, b = augment.apply(x, p), augment.apply(x.detach().clone(), p)
    assert torch.allclose(a, b)  # same ω → same transform
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    q = augment.sample_params(g)
    assert not torch.allclose(augment.apply(x.detach(), q), a.detach())


# ----------------------------------------------------------------------------- gsdd
def test_embedder_is_redrawn_per_call_and_reproducible_per_seed() -> None:
    args = DMArgs(net_width=8, net_depth=2)
    g = torch.Generator().manual_seed(0)
    first, second = (sample_embedder(args, g, torch.device("cpu")) for _ in range(2))
    again = sample_embedder(args, torch.Generator().manual_seed(0), torch.device("cpu"))
    w = [next(m.parameters()) for m in (first, second, again)]
    assert not torch.equal(w[0], w[1])  # DM draws a fresh random ψ every iteration
    assert torch.equal(w[0], w[2])  # ... from the run's seed, not the global RNG
    torch.manual_seed(123)  # the global RNG must not matter
    assert torch.equal(next(sample_embedder(args, torch.Generator().manual_seed(0), torch.device("cpu")).parameters()),
                       w[0])


def test_dm_loss_is_the_mean_embedding_gap() -> None:
    gen = TinySR(2)
    args = DMArgs(net_width=8, net_depth=2)
    psi = sample_embedder(args, torch.Generator().manual_seed(0), torch.device("cpu"))
    z = torch.rand(3, 3, 8, 8, requires_grad=True)
    real = torch.rand(5, 3, 16, 16)
    omega = augment.sample_params(torch.Generator().manual_seed(0))
    loss = dm_loss(psi, real, gen(z), omega)
    want = ((psi(augment.apply(real, omega)).mean(0) - psi(augment.apply(gen(z), omega)).mean(0)) ** 2).sum()
    torch.testing.assert_close(loss, want)
    (g,) = torch.autograd.grad(loss + 0.1 * diversity(z), z)
    assert g.abs().sum() > 0


def _fixed_dm(gen: nn.Module, real: torch.Tensor, z: torch.Tensor, args: DMArgs) -> float:
    """DM loss averaged over 8 fixed (ψ, ω) draws: a noise-free yardstick for before/after."""
    g = torch.Generator().manual_seed(123)
    total = 0.0
    with torch.no_grad():
        for _ in range(8):
            psi = sample_embedder(args, g, torch.device("cpu"))
            total += float(dm_loss(psi, real, gen(z).clamp(0, 1), augment.sample_params(g, tuple(args.augment))))
    return total / 8


def test_dm_loss_decreases_under_latent_optimisation() -> None:
    torch.manual_seed(0)
    gen = TinySR(2)  # left trainable: only the latents may be optimised
    before = [p.clone() for p in gen.parameters()]
    # real class: blocky random textures; latents start flat grey, far from them in ψ's
    # (instance-normalised, hence texture-sensitive) feature space
    real = nn.functional.interpolate(torch.rand(32, 3, 8, 8), scale_factor=2, mode="nearest")
    z0 = 0.5 + 0.02 * torch.randn(4, 3, 8, 8)
    args = DMArgs(iterations=30, lr=0.05, real_batch=16, net_width=8, net_depth=2, augment=["flip", "crop"])
    zs, hist = optimise_latents(gen, [real], [z0], args, seed=0)
    assert _fixed_dm(gen, real, zs[0], args) < 0.5 * _fixed_dm(gen, real, z0, args)
    first = np.mean([h["match"] for h in hist[:10]])
    last = np.mean([h["match"] for h in hist[-10:]])
    assert last < first  # the (noisy) training loss goes down too
    assert all(torch.equal(a, b) for a, b in zip(before, gen.parameters()))  # G untouched


def test_diversity_penalises_identical_latents() -> None:
    same = torch.rand(1, 3, 8, 8).repeat(4, 1, 1, 1)
    diff = torch.rand(4, 3, 8, 8)
    assert diversity(same) > 0.99
    assert diversity(diff) < 0.5
    assert diversity(diff[:1]) == 0


# ----------------------------------------------------------------------------- output format
def tiny_generator(folder: Path) -> str:
    """A saved, untrained 4-channel PatchVAE (the gsdd / d4m generative space in unit tests)."""
    torch.manual_seed(0)
    save_generator(folder, PatchVAE(4, 8), VAEConfig(latent_channels=4, width=8, steps=0), {"key": "test"})
    return str(folder)


def tiny_sections(method: str, tmp_path: Path) -> dict[str, object]:
    """Each built-in method's own section, shrunk to a unit test (a method without one: {})."""
    dm = {"iterations": 3, "net_width": 8, "net_depth": 2, "real_batch": 4}
    if method in ("gsdd", "d4m"):
        gen = tiny_generator(tmp_path / "generator")
        return {**dm, "generator": gen, "inversion_steps": 2} if method == "gsdd" else {"generator": gen}
    return {"pixel_dm": dm, "feature_medoids": {"refine_steps": 2}}.get(method, {})


@pytest.mark.parametrize("method", ["random", "kcenter", "feature_medoids", "pixel_dm", "gsdd", "d4m"])
def test_output_manifest_and_storage_accounting(tmp_path: Path, method: str) -> None:
    src = _textures(tmp_path / "hr")
    raw = {"method": method, "data": [str(src)], "scale": 2, "patch_size": 8, "ipc": 2, "classes": 2,
           "candidates_per_image": 6}
    section = tiny_sections(method, tmp_path)
    cfg = load_datadistill_config({**raw, method: section} if section else raw, src="test")
    out = tmp_path / "out"
    man = run_data_distillation(cfg, out, teacher=TinySR(2) if method in ("gsdd", "pixel_dm") else None)
    files = sorted((out / "images").glob("*.png"))
    assert len(files) == len(man["images"]) == 4
    assert sum(f.stat().st_size for f in files) == man["total_bytes"]
    assert {e["file"] for e in man["images"]} == {f"images/{f.name}" for f in files}
    for e in man["images"]:
        assert (out / e["file"]).stat().st_size == e["bytes"]
        assert e["width"] == e["height"] == 16 and e["width"] % 2 == 0
        assert Image.open(out / e["file"]).size == (16, 16)
    src_bytes = sum(f.stat().st_size for f in src.iterdir())
    assert man["source"]["bytes"] == src_bytes and man["source"]["images"] == 6
    assert man["ratio"] == pytest.approx(man["total_bytes"] / src_bytes)
    assert man["method"] == method and man["ipc"] == 2 and man["classes"] == 2
    assert json.loads((out / "manifest.json").read_text()) == read_manifest(out / "images")
    if method != "random":
        assert sorted(e["class"] for e in man["images"]) == [0, 0, 1, 1]
    # the engine's dataset reads the folder as-is
    ds = open_training_set(out, scale=2, patch_size=8)
    item = ds[0]
    assert item["lr"].shape == (3, 8, 8) and item["hr"].shape == (3, 16, 16)


def test_teacher_relabelling_dataset(tmp_path: Path) -> None:
    src = _textures(tmp_path / "hr")
    teacher = TinySR(2)
    cfg = DataDistillConfig(method="random", data=[str(src)], scale=2, patch_size=8, ipc=2, classes=1,
                            candidates_per_image=2, relabel_views=2)
    man = run_data_distillation(cfg, tmp_path / "out", teacher=teacher)
    assert man["use_teacher_labels"] and len(man["relabel"]["pairs"]) == 4
    rbytes = sum((tmp_path / "out" / p[k]).stat().st_size for p in man["relabel"]["pairs"] for k in ("lr", "hr"))
    assert rbytes == man["relabel"]["bytes"]
    ds = open_training_set(tmp_path / "out", scale=2, patch_size=8, augment=False)
    assert isinstance(ds, TeacherLabelDataset)
    item = ds[0]
    assert item["lr"].shape == (3, 8, 8) and item["hr"].shape == (3, 16, 16)
    # the label is the teacher's output on the stored LR view, not the distilled HR
    with torch.no_grad():
        full = teacher(item["lr"].unsqueeze(0)).clamp(0, 1)[0]
    assert (full - item["hr"]).abs().max() < 1.5 / 255 + 0.05  # crop border effects of the conv


def test_cli_writes_output_and_reports_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _textures(tmp_path / "hr")
    out = tmp_path / "out"
    rc = run_cli(cli, ["distill-data", "--method", "kcenter", "--data", str(src), "--ipc", "2",
                       "--classes", "2", "--scale", "2", "--patch-size", "8", "--out", str(out)])
    assert rc == 0
    assert len(read_manifest(out)["images"]) == 4
    assert "train with" in capsys.readouterr().out
    for method in ("gsdd", "pixel_dm"):
        rc = run_cli(cli, ["distill-data", "--method", method, "--data", str(src), "--out", str(tmp_path / "o2")])
        assert rc == 2
        assert "needs --teacher" in capsys.readouterr().err
    rc = run_cli(cli, ["distill-data", "--method", "random", "--iterations", "5", "--data", str(src),
                       "--out", str(tmp_path / "o4")])
    assert rc == 2
    assert "unknown key 'iterations' for method random" in capsys.readouterr().err
    rc = run_cli(cli, ["distill-data", "--method", "random", "--data", str(tmp_path / "nope"),
                       "--out", str(tmp_path / "o3")])
    assert rc == 2


# ----------------------------------------------------------------------------- training on the output
def _tiny_distill(tmp_path: Path, relabel_views: int = 0) -> Path:
    src = _textures(tmp_path / "hr")
    out = tmp_path / "set"
    cfg = DataDistillConfig(method="feature_medoids", data=[str(src)], scale=2, patch_size=8, ipc=2, classes=2,
                            candidates_per_image=4, relabel_views=relabel_views)
    run_data_distillation(cfg, out, teacher=TinySR(2) if relabel_views else None)
    return out


@pytest.mark.parametrize("relabel_views", [0, 2])
def test_distill_cli_trains_from_distilled_folder_end_to_end(tmp_path: Path, relabel_views: int) -> None:
    """`sr-compress distill --method scratch --data DIR` on a distill-data output folder (with and
    without stored teacher labels)."""
    from sr_compress.models.load import load_model

    out = _tiny_distill(tmp_path, relabel_views)
    run = tmp_path / "run"
    rc = run_cli(cli, ["distill", "--method", "scratch", "--student", "edsr:c8b1", "--scale", "2",
                       "--data", str(out), "--patch-size", "8", "--batch-size", "2", "--iterations", "3",
                       "--checkpoint-every", "3", "--val-every", "1000", "--out", str(run), "--no-progress"])
    assert rc == 0
    desc = load_model(run / "student.pth")
    assert desc.scale == 2
    y = desc.model.eval()(torch.rand(1, 3, 8, 8))
    assert y.shape == (1, 3, 16, 16)


def test_engine_dataset_for_distilled_folders(tmp_path: Path) -> None:
    from sr_compress.compress.datadistill.common import distilled_training_set, is_distilled_root
    from sr_compress.data.datasets import PairedPatchDataset

    plain = _tiny_distill(tmp_path / "a")
    labelled = _tiny_distill(tmp_path / "b", relabel_views=2)
    assert is_distilled_root(plain) and not is_distilled_root(plain / "images")
    assert not is_distilled_root(tmp_path / "a" / "hr")
    # plain HR folders are left to the engine's own dataset
    assert distilled_training_set([tmp_path / "a" / "hr"], 2, 8) is None
    assert isinstance(distilled_training_set([plain], 2, 8), PairedPatchDataset)
    ds = distilled_training_set([labelled], 2, 8)
    assert isinstance(ds, TeacherLabelDataset) and len(ds) == 4 * 2  # 4 images x 2 views
    both = distilled_training_set([plain, labelled, tmp_path / "a" / "hr"], 2, 8)
    assert isinstance(both, torch.utils.data.ConcatDataset) and len(both.datasets) == 3
    from sr_compress.errors import UserInputError

    with pytest.raises(UserInputError, match="distilled at x2"):
        distilled_training_set([plain], 4, 8)
