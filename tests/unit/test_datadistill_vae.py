"""The generative space of dataset distillation (patch VAE, its cache), gsdd / d4m, and the
per-distiller config sections."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from sr_compress.cli import cli, run_cli
from sr_compress.compress.datadistill import generator as gen_mod
from sr_compress.compress.datadistill.common import (
    load_datadistill_config,
    read_manifest,
    run_data_distillation,
)
from sr_compress.compress.datadistill.d4m import D4MConfig, encode_all
from sr_compress.compress.datadistill.generator import (
    GeneratorArgs,
    cache_key,
    load_generator,
    obtain_generator,
    save_generator,
)
from sr_compress.compress.datadistill.gsdd import GSDDConfig
from sr_compress.compress.datadistill.pool import build_pool, source_files
from sr_compress.compress.datadistill.vae import PatchVAE, VAEConfig, invert, random_crops, train_vae
from sr_compress.errors import CheckpointError, ConfigError

from .test_datadistill import TinySR, _textures


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _vae(c: int = 4, w: int = 8, seed: int = 0) -> PatchVAE:
    torch.manual_seed(seed)
    return PatchVAE(c, w).eval()


# ----------------------------------------------------------------------------- the VAE
def test_round_trip_shapes_any_multiple_of_four() -> None:
    vae = _vae()
    for h, w in ((16, 16), (24, 32)):
        x = torch.rand(2, 3, h, w)
        mu, logvar = vae.encode(x)
        assert mu.shape == logvar.shape == (2, 4, h // 4, w // 4)
        rec, mu2, _ = vae(x)
        assert rec.shape == x.shape and torch.equal(mu, mu2)  # eval: z = μ, deterministic


def test_training_lowers_reconstruction_error(tmp_path: Path) -> None:
    from sr_compress.data.io import read_uint8

    imgs = [read_uint8(f) for f in source_files([_textures(tmp_path / "hr", n=3, size=40)])]
    g = torch.Generator().manual_seed(5)
    x = random_crops(imgs, 16, 16, g)
    cfg = VAEConfig(patch=16, latent_channels=4, width=8, steps=0, batch=8, lr=5e-3)
    untrained, _ = train_vae(imgs, cfg, progress=False)
    trained, log = train_vae(imgs, VAEConfig(**{**cfg.__dict__, "steps": 40}), progress=False)
    with torch.no_grad():
        before = (untrained(x)[0] - x).abs().mean()
        after = (trained(x)[0] - x).abs().mean()
    assert after < 0.85 * before, (before, after)  # an optimiser that does not step leaves it at 1.0
    assert log["steps"] == 40 and not any(p.requires_grad for p in trained.parameters())


def test_inversion_lowers_reconstruction_error_and_leaves_the_vae_alone() -> None:
    vae = _vae()
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    with torch.no_grad():  # images the decoder can make exactly, from latents the encoder does not find
        x = vae.decode(torch.randn(3, 4, 4, 4, generator=torch.Generator().manual_seed(1)))
        mu, _ = vae.encode(x)
        err0 = torch.mean((vae.decode(mu) - x) ** 2)
    z = invert(vae, x, steps=40, lr=0.05)
    with torch.no_grad():
        err1 = torch.mean((vae.decode(z) - x) ** 2)
    assert err1 < 0.5 * err0, (err0, err1)
    assert torch.equal(invert(vae, x, steps=0, lr=0.05), mu)  # 0 steps = the encoder's μ
    assert all(torch.equal(v, vae.state_dict()[k]) for k, v in before.items())


# ----------------------------------------------------------------------------- generator cache
def test_saved_generator_loads_weights_only_and_identically(tmp_path: Path) -> None:
    vae = _vae()
    save_generator(tmp_path / "g", vae, VAEConfig(latent_channels=4, width=8), {"key": "k"})
    loaded, meta = load_generator(tmp_path / "g")
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(loaded(x)[0], vae(x)[0])
    assert meta["vae"]["latent_channels"] == 4 and meta["key"] == "k"
    json.loads((tmp_path / "g" / gen_mod.META).read_text())  # the config is plain JSON


class _Evil:  # pickled into the weights file: a weights-only load must refuse it
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pwned",))


def test_unsafe_or_broken_generator_folders_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="needs generator.pt"):
        load_generator(tmp_path / "missing")
    save_generator(tmp_path / "g", _vae(), VAEConfig(latent_channels=4, width=8), {})
    torch.save({"w": _Evil()}, tmp_path / "g" / gen_mod.WEIGHTS)
    with pytest.raises(CheckpointError, match="weights-only"):
        load_generator(tmp_path / "g")
    save_generator(tmp_path / "h", _vae(), VAEConfig(latent_channels=4, width=8), {})
    meta = json.loads((tmp_path / "h" / gen_mod.META).read_text())
    meta["vae"]["width"] = 16  # config no longer matches the weights
    (tmp_path / "h" / gen_mod.META).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not match"):
        load_generator(tmp_path / "h")
    meta["vae"]["depth"] = 3
    (tmp_path / "h" / gen_mod.META).write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="vae.depth"):
        load_generator(tmp_path / "h")


def test_train_is_cached_by_data_and_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = source_files([_textures(tmp_path / "hr", n=3, size=32)])
    args = GeneratorArgs(vae=VAEConfig(patch=16, latent_channels=4, width=8, steps=2, batch=2))
    m1, meta1 = obtain_generator(args, files, cache=tmp_path / "cache")
    assert not meta1["cached"] and Path(meta1["folder"]).name == f"vae-{meta1['key']}"

    def no_training(*_a: object, **_k: object) -> None:
        raise AssertionError("a cached generator was trained again")

    monkeypatch.setattr(gen_mod, "train_vae", no_training)
    m2, meta2 = obtain_generator(args, files, cache=tmp_path / "cache")
    assert meta2["cached"] and meta2["key"] == meta1["key"]
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    # another config or other data is another key
    other = VAEConfig(patch=16, latent_channels=4, width=8, steps=3, batch=2)
    assert cache_key(files, other) != meta1["key"] and cache_key(files[:2], args.vae) != meta1["key"]


# ----------------------------------------------------------------------------- d4m, gsdd
def _cfg(method: str, src: Path, gen: str, **section: object) -> object:
    raw = {"method": method, "data": [str(src)], "scale": 2, "patch_size": 8, "ipc": 1, "classes": 1,
           "candidates_per_image": 4, method: {"generator": gen, **section}}
    return load_datadistill_config(raw, src="test")


def test_d4m_decodes_the_latent_kmeans_centre(tmp_path: Path) -> None:
    src = _textures(tmp_path / "hr")
    vae = _vae()
    save_generator(tmp_path / "g", vae, VAEConfig(latent_channels=4, width=8), {})
    cfg = _cfg("d4m", src, str(tmp_path / "g"))
    man = run_data_distillation(cfg, tmp_path / "out")
    assert len(man["images"]) == 1 and man["images"][0]["width"] == 16
    # one class, one cluster: the centre is the mean latent of every candidate, decoded
    pool = build_pool(cfg)
    centre = encode_all(vae, pool.patches, 64, torch.device("cpu")).mean(0, keepdim=True)
    with torch.no_grad():
        want = vae.decode(centre).clamp(0, 1)[0].permute(1, 2, 0).mul(255).round().byte().numpy()
    from sr_compress.data.io import read_uint8

    got = read_uint8(tmp_path / "out" / man["images"][0]["file"])
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert man["method_info"]["generator"]["folder"] == str(tmp_path / "g")


def test_gsdd_moves_latents_by_dm_and_decodes_them(tmp_path: Path) -> None:
    src = _textures(tmp_path / "hr")
    save_generator(tmp_path / "g", _vae(), VAEConfig(latent_channels=4, width=8), {})
    kw = {"net_width": 8, "net_depth": 2, "real_batch": 4, "inversion_steps": 3, "features": "teacher"}
    still = run_data_distillation(_cfg("gsdd", src, str(tmp_path / "g"), iterations=0, **kw), tmp_path / "a",
                                  teacher=TinySR(2))
    moved = run_data_distillation(_cfg("gsdd", src, str(tmp_path / "g"), iterations=5, lr=0.2, **kw),
                                  tmp_path / "b", teacher=TinySR(2))
    from sr_compress.data.io import read_uint8

    a = read_uint8(tmp_path / "a" / still["images"][0]["file"])
    b = read_uint8(tmp_path / "b" / moved["images"][0]["file"])
    assert a.shape == b.shape == (16, 16, 3)
    assert np.abs(a.astype(int) - b.astype(int)).max() > 2  # DM steps changed the decoded image
    assert moved["settings"]["options"]["iterations"] == 5


# ----------------------------------------------------------------------------- configs
def test_config_sections_are_validated_per_method() -> None:
    base = {"data": ["x"]}
    cfg = load_datadistill_config({**base, "method": "gsdd", "gsdd": {"iterations": 7, "vae": {"steps": 9}}})
    assert isinstance(cfg.options, GSDDConfig) and cfg.options.iterations == 7 and cfg.options.vae.steps == 9
    assert isinstance(load_datadistill_config({**base, "method": "d4m"}).options, D4MConfig)
    assert load_datadistill_config({**base, "method": "pixel_dm", "iterations": 3}).options.iterations == 3
    bad = [
        ({"method": "gsdd", "gsdd": {"iterationz": 1}}, "unknown key 'gsdd.iterationz'"),
        ({"method": "gsdd", "gsdd": {"vae": {"depth": 2}}}, "unknown key 'gsdd.vae.depth'"),
        ({"method": "kcenter", "d4m": {}}, "section 'd4m' is for --method d4m"),
        ({"method": "random", "informative_fraction": 0.3}, "unknown key 'informative_fraction' for method random"),
        ({"method": "pixel_dm", "iterations": 3, "pixel_dm": {"iterations": 4}}, "given twice"),
        ({"method": "gsdd", "gsdd": {"augment": ["rotate"]}}, "unknown operation 'rotate'"),
        ({"method": "nope"}, "unknown dataset-distillation method 'nope'"),
    ]
    for raw, msg in bad:
        with pytest.raises(Exception, match=msg) as err:
            load_datadistill_config({**base, **raw}, src="r.yaml")
        assert "\n" not in str(err.value)


def test_old_prototypes_name_warns_and_runs_feature_medoids(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = load_datadistill_config({"method": "prototypes", "data": ["x"], "prototypes": {"refine_steps": 1}})
    assert cfg.method == "feature_medoids" and cfg.options.refine_steps == 1
    assert any(issubclass(w.category, FutureWarning) and "feature_medoids" in str(w.message) for w in caught)
    src = _textures(tmp_path / "hr")
    rc = run_cli(cli, ["distill-data", "--method", "prototypes", "--data", str(src), "--ipc", "1", "--classes", "2",
                       "--scale", "2", "--patch-size", "8", "--out", str(tmp_path / "o")])
    assert rc == 0
    assert "use --method feature_medoids" in capsys.readouterr().err
    assert read_manifest(tmp_path / "o")["method"] == "feature_medoids"


def test_cli_generator_option_reaches_the_section(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _textures(tmp_path / "hr")
    save_generator(tmp_path / "g", _vae(), VAEConfig(latent_channels=4, width=8), {})
    rc = run_cli(cli, ["distill-data", "--method", "d4m", "--generator", str(tmp_path / "g"), "--data", str(src),
                       "--ipc", "1", "--classes", "2", "--scale", "2", "--patch-size", "8", "--out", str(tmp_path / "o")])
    assert rc == 0, capsys.readouterr().err
    assert f"reuse with --generator {tmp_path / 'g'}" in capsys.readouterr().out
    rc = run_cli(cli, ["distill-data", "--method", "d4m", "--generator", str(tmp_path / "nope"), "--data", str(src),
                       "--ipc", "1", "--classes", "2", "--scale", "2", "--patch-size", "8", "--out", str(tmp_path / "p")])
    assert rc == 2 and "needs generator.pt" in capsys.readouterr().err
