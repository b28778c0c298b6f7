"""The method tables' harness (benchmarks/_tables.py and the table scripts): seeds re-draw every
RNG of a run, paired differences and the 2-std test are computed by hand, rows are read by key,
equal wall-clock budgets, and work folders are never emptied silently."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import _tables  # benchmarks/ is on sys.path (tests/conftest.py)
import pytest
import torch

from sr_compress.compress.engine import load_distill_config, run_distillation

from .test_engine import _one_thread, make_images, make_teacher  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------ statistics
def test_paired_difference_matches_the_hand_computation() -> None:
    p = _tables.paired({0: 1.0, 1: 2.0, 2: 3.0}, {0: 0.5, 1: 1.0, 2: 2.0})
    assert p.diffs == (0.5, 1.0, 1.0)
    assert p.mean == pytest.approx(2.5 / 3)
    # sample std (ddof 1) of (0.5, 1, 1): sqrt(((-1/3)^2 + 2 (1/6)^2) / 2)
    assert p.std == pytest.approx(math.sqrt(((1 / 3) ** 2 + 2 * (1 / 6) ** 2) / 2))
    assert p.separated is True  # 0.833 > 2 * 0.289
    q = _tables.paired({0: 1.0, 1: 2.0, 2: 0.0}, {0: 0.5, 1: 0.5, 2: 0.5})  # diffs 0.5, 1.5, -0.5
    assert q.mean == pytest.approx(0.5) and q.std == pytest.approx(1.0)
    assert q.separated is False


def test_paired_pairs_by_seed_not_by_position() -> None:
    a = {2: 30.0, 0: 31.0, 1: 29.0}
    b = {0: 30.9, 1: 28.9, 2: 29.9}  # each seed exactly 0.1 below
    p = _tables.paired(a, b)
    assert sorted(round(d, 9) for d in p.diffs) == [0.1, 0.1, 0.1]
    assert p.std == pytest.approx(0.0, abs=1e-12) and p.separated is True
    assert _tables.paired({0: 1.0}, {0: 0.0}).separated is None  # one seed: no spread known
    with pytest.raises(ValueError):
        _tables.paired({0: 1.0}, {1: 0.0})


def test_paired_against_a_deterministic_baseline_uses_the_rows_spread() -> None:
    p = _tables.paired({0: 30.2, 1: 30.4, 2: 30.3}, 30.0)
    assert p.mean == pytest.approx(0.3) and p.std == pytest.approx(0.1)
    assert "> 2 std: yes" in p.text()


def test_equal_wall_steps() -> None:
    steps = _tables.equal_wall_steps({"scratch": 0.25, "kd": 0.5, "dukd": 0.8}, 50.0)
    assert steps == {"scratch": 200, "kd": 100, "dukd": 62}
    assert _tables.equal_wall_steps({"a": 0.3}, 10.0, round_to=10) == {"a": 30}
    with pytest.raises(ValueError):
        _tables.equal_wall_steps({"a": 0.0}, 10.0)


def test_recovery_wall_plan_keeps_dukd_pairs_and_the_kd_reference() -> None:
    import recovery_table

    rows = [{"method": m, "s_per_step": per, "train_s": per * 100, "seed": s}
            for s in (0, 1) for m, per in (("scratch", 0.3), ("kd", 0.5), ("dukd", 0.45), ("datafree", 0.7))]
    wall, plan = recovery_table.wall_plan(rows, argparse.Namespace(steps=100))
    assert wall == pytest.approx(50.0)
    assert plan["kd"] == 100 and plan["scratch"] == 166 and plan["datafree"] == 71
    assert plan["dukd"] == 110 and plan["dukd"] % 2 == 0  # 111 -> whole iterations of two steps


# ------------------------------------------------------------------------------ key lookup
def test_by_key_reads_rows_by_name() -> None:
    rows = [{"row": "b", "v": 2}, {"row": "a", "v": 1}]
    assert _tables.by_key(rows, "a")["v"] == 1
    with pytest.raises(KeyError, match="rows: b, a"):
        _tables.by_key(rows, "c")
    with pytest.raises(KeyError):
        _tables.by_key([*rows, {"row": "a", "v": 3}], "a")


def test_seed_table_baseline_found_by_name_whatever_the_order() -> None:
    kd = {"row": "kd", "per_seed": {0: {"Set5": 31.0}, 1: {"Set5": 31.2}}}
    dukd = {"row": "dukd", "per_seed": {1: {"Set5": 31.5}, 0: {"Set5": 31.1}}}
    h1, c1 = _tables.seed_table([kd, dukd], ["Set5"], "kd")
    h2, c2 = _tables.seed_table([dukd, kd], ["Set5"], "kd")
    assert h1 == h2
    assert {r[0]: r for r in c1} == {r[0]: r for r in c2}
    delta = {r[0]: r[3] for r in c1}
    assert delta["kd"] == "—"
    assert delta["dukd"].startswith("+0.200 ± 0.141")  # diffs 0.1 and 0.3


# --------------------------------------------------------------------------- seed re-draw
def test_seed_overrides_cover_method_seeds() -> None:
    assert _tables.seed_overrides(3, "kd") == {"train.seed": 3}
    assert _tables.seed_overrides(3, "pdd") == {"train.seed": 3, "pdd.seed": 3}


def _tiny_args(tmp_path: Path) -> argparse.Namespace:
    teacher = make_teacher(tmp_path / "teacher.pth", scale=4)
    from sr_compress.models.load import save_model
    from sr_compress.models.students import build_student

    torch.manual_seed(7)  # a start that differs from the teacher (else data-free has nothing to learn)
    init = save_model(build_student("edsr:c8b1", 4), tmp_path / "init.pth")
    return argparse.Namespace(
        teacher=teacher, init=init, data=make_images(tmp_path / "imgs", size=64), batch_size=2, patch_size=8,
        lr=1e-3, stu_step=1, gen_lr=1e-3, w_adv=1.0, w_rec=1.0, inc_num=1, sets_kv=[], student="edsr:c8b1",
        num_workers=0, mixed_precision="no", ema=0.0, dukd_set=[],
    )


def _train(tmp_path: Path, recipe: str, over: dict, name: str) -> dict[str, torch.Tensor]:
    over = {**over, "train.iterations": 2, "train.checkpoint_every": 2, "train.log_every": 1}
    res = run_distillation(load_distill_config(REPO / "configs" / "distill" / recipe, over), tmp_path / name,
                           progress=False)
    return res.student.model.state_dict()


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("method", ["datafree", "kd"])
def test_recovery_table_seed_redraws_the_run(tmp_path: Path, method: str) -> None:
    """Same pruned/teacher-initialised start, same seed: identical students; another seed: a different
    one (datafree: the generator's init and latents; kd: data order and crops)."""
    import recovery_table

    args = _tiny_args(tmp_path)
    pruned = Path(args.init)
    runs = {k: _train(tmp_path, f"{method}_x4.yaml", recovery_table.overrides(args, method, 2, seed, pruned), k)
            for k, seed in (("a", 0), ("b", 0), ("c", 1))}
    assert _same(runs["a"], runs["b"])
    assert not _same(runs["a"], runs["c"])


def test_datafree_table_frozen_generator_is_re_drawn_per_seed(tmp_path: Path) -> None:
    import datafree_table

    args = _tiny_args(tmp_path)
    over = {s: datafree_table.overrides(args, "frozen", 2, s) for s in (0, 1)}
    assert over[0]["datafree.generator"] == "frozen" and over[0]["train.seed"] == 0 and over[1]["train.seed"] == 1
    a, b = (_train(tmp_path, "datafree_x4.yaml", over[s], f"f{s}") for s in (0, 1))
    assert not _same(a, b)


def test_distill_table_overrides_follow_the_seed_and_init(tmp_path: Path) -> None:
    import distill_table

    args = _tiny_args(tmp_path)
    for m in ("scratch", "kd", "dukd"):
        o = distill_table.overrides(args, m, 4, 5)
        assert o["train.seed"] == 5 and o["student"] == "init" and o["init"] == str(args.init)
        assert ("teacher" in o) == (m != "scratch")
    args.init = None
    assert distill_table.overrides(args, "kd", 4, 0)["student"] == "edsr:c8b1"


# ------------------------------------------------------------------------------ work folders
def test_open_cache_refuses_other_settings_and_keeps_the_files(tmp_path: Path) -> None:
    work = tmp_path / "w"
    _tables.open_cache(work, {"lr": 1e-3}, overwrite=False)
    (work / "kd_s0").mkdir()
    _tables.open_cache(work, {"lr": 1e-3}, overwrite=False)  # same settings: reused
    with pytest.raises(SystemExit, match="--overwrite"):
        _tables.open_cache(work, {"lr": 2e-3}, overwrite=False)
    assert (work / "kd_s0").is_dir()
    _tables.open_cache(work, {"lr": 2e-3}, overwrite=True)
    assert not (work / "kd_s0").exists()
    assert json.loads((work / "settings.json").read_text()) == {"lr": 2e-3}


def test_pdd_table_refuses_a_non_empty_work_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pdd_table

    (tmp_path / "old_run").mkdir()
    monkeypatch.setattr(sys, "argv", ["pdd_table.py", "--work", str(tmp_path), "--no-write"])
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    with pytest.raises(SystemExit, match="--overwrite"):
        pdd_table.main()
    assert (tmp_path / "old_run").is_dir()


def test_pdd_seed_replicates_pair_by_seed_and_size_the_wall_clock_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """pdd_table --seeds 3 --equal-wall: runs per seed, synthetic-only at PDD's mean wall-clock
    (iterations from the measured s/iteration), paired Δ with the 2-std verdict."""
    import pdd_table

    calls = []

    def fake(out, teacher, real_dir, iters, seed, arch, extra, test, **kw):  # noqa: ANN001, ANN202
        pdd = "w_inter" not in kw
        calls.append((out.name, iters, seed, pdd))
        psnr = 25.0 + 0.01 * seed + (0.2 if pdd else 0.0) + (0.001 * iters if not pdd else 0.0)
        return None, (30.0 if pdd else 10.0), {"psnr": psnr}, {"psnr": psnr + 0.05}

    monkeypatch.setattr(pdd_table, "adapt_and_evaluate", fake)
    args = argparse.Namespace(seeds=3, seed=0, ft_iters=10, synthetic="resize", equal_wall=True)
    seed0 = {"syn_s": 25.01, "pdd_s": 25.2, "syn_ema": 25.06, "pdd_ema": 25.25, "syn_train_s": 10.0,
             "pdd_train_s": 30.0}
    md, data = pdd_table.seed_replicates(args, Path("w"), Path("g"), Path("r"), [], "srvgg:c8b1", {}, 24.0, seed0)
    assert data["wall_iters"] == 30  # PDD 3 s/it vs synthetic-only 1 s/it, 10 iterations
    assert [c for c in calls if c[0].endswith("syn_wall")] == [("seed0_syn_wall", 30, 0, False),
                                                              ("seed1_syn_wall", 30, 1, False),
                                                              ("seed2_syn_wall", 30, 2, False)]
    assert "PDD S − synthetic-only S +0.190 ± 0.000 (> 2 std: yes)" in md  # 0.19 on every seed
    assert "PDD's wall-clock" in md
