"""``sr-compress distill-data``: distil an HR folder into a tiny training set (images + manifest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..config import apply_overrides, read_yaml
from ._choices import RegistryChoice, distillers


class _MethodChoice(RegistryChoice):
    """The registry's names; a deprecated alias is accepted (with its warning) and turned into its new name."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ..compress.datadistill.config import ALIASES

        if value in ALIASES:
            click.echo(f"warning: --method {value} is deprecated: use --method {ALIASES[value]}", err=True)
            return ALIASES[value]
        return super().convert(value, param, ctx)


def _method_keys(raw: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    """Options that are the method's own keys go into its YAML section when the recipe has one
    (so the option wins over the recipe), else top level (the loader's shorthand)."""
    from ..compress.datadistill.config import ALIASES, DataDistillConfig

    method = str(raw.get("method", DataDistillConfig.method))
    section = next((k for k in (method, *[a for a, n in ALIASES.items() if n == method]) if isinstance(raw.get(k), dict)),
                   None)
    return {(f"{section}.{k}" if section else k): v for k, v in keys.items() if v is not None}


@click.command("distill-data")
@click.option("--method", type=_MethodChoice(distillers), default=None,
              help="gsdd: latent DM in a patch VAE; d4m: decoded latent k-means prototypes; pixel_dm: "
                   "pixel-space DM through the teacher; feature_medoids: feature-medoid coreset; random / "
                   "kcenter: selection baselines (prototypes = deprecated name of feature_medoids). "
                   "[default: pixel_dm]")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="YAML with the settings, or a shipped name (gsdd, d4m, pixel_dm, ...); options override it.")
@click.option("--data", "data", multiple=True, help="HR image folder (repeatable).")
@click.option("--ipc", type=int, default=None, help="Images per pseudo-class.")
@click.option("--classes", type=int, default=None, help="Pseudo-classes (k-means clusters of patch descriptors).")
@click.option("--teacher", default=None, help="Teacher SR checkpoint (pixel_dm's generator, gsdd's feature space and labels; "
                   "the embedding otherwise).")
@click.option("--scale", type=int, default=None, help="SR scale of the training set. [default: 4]")
@click.option("--patch-size", type=int, default=None,
              help="LR patch side; distilled HR patches are patch-size*scale px. Use the training patch size. "
                   "[default: 24]")
@click.option("--iterations", type=int, default=None,
              help="Latent optimisation steps (pixel_dm, gsdd: their 'iterations' key). [default: 200]")
@click.option("--generator", default=None,
              help="gsdd / d4m generative space: 'train' (train a patch VAE on --data, cached by data + "
                   "config) or a generator folder that an earlier run wrote. [default: train]")
@click.option("--embed", type=click.Choice(["auto", "teacher", "random"]), default=None,
              help="Patch embedding for pseudo-classes / feature_medoids / k-center. [default: auto]")
@click.option("--relabel-views", type=int, default=None,
              help="Also store teacher outputs for N fixed dihedral views per image (teacher labels).")
@click.option("--candidates-per-image", type=int, default=None,
              help="Random candidate crops per source image. [default: 16]")
@click.option("--seed", type=int, default=None)
@click.option("--device", default="cpu", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder: images/*.png + manifest.json.")
def command(method: str | None, config_path: Path | None, data: tuple[str, ...], ipc: int | None,
            classes: int | None, teacher: str | None, scale: int | None, patch_size: int | None,
            iterations: int | None, generator: str | None, embed: str | None, relabel_views: int | None,
            candidates_per_image: int | None, seed: int | None,
            device: str, out: Path) -> None:
    """Distil HR images into IPC x CLASSES patches for `sr-compress distill --data OUT`."""
    from ..compress.datadistill.loading import load_datadistill_config
    from ..compress.datadistill.run import run_data_distillation

    if config_path is not None:
        from ..recipes import resolve_recipe

        config_path = resolve_recipe(config_path, "datadistill")
    raw: dict[str, Any] = read_yaml(config_path) if config_path else {}
    overrides = {"method": method, "ipc": ipc, "classes": classes, "teacher": teacher, "scale": scale,
                 "patch_size": patch_size, "embed": embed,
                 "relabel_views": relabel_views, "seed": seed,
                 "candidates_per_image": candidates_per_image, "data": list(data) or None}
    raw = apply_overrides(raw, {k: v for k, v in overrides.items() if v is not None})
    raw = apply_overrides(raw, _method_keys(raw, {"iterations": iterations, "generator": generator}))
    # --iterations / --generator are the chosen method's keys: the loader files them under its section
    cfg = load_datadistill_config(raw, src=str(config_path or "options"))
    man = run_data_distillation(cfg, out, device=device)
    ratio = man["ratio"] or 0.0
    click.echo(
        f"{man['method']}: {len(man['images'])} images of {man['hr_size']}x{man['hr_size']} px, "
        f"{man['total_bytes']:,} bytes = {100 * ratio:.2f}% of {man['source']['bytes']:,} "
        f"({man['source']['images']} source images), {man['wall_time_s']:.1f} s"
    )
    gen = (man.get("method_info") or {}).get("generator")
    if gen:
        click.echo(f"generator: {gen['folder']} ({'cached' if gen['cached'] else 'trained now'}; "
                   f"reuse with --generator {gen['folder']})")
    if man.get("relabel"):
        click.echo(f"teacher labels: {len(man['relabel']['pairs'])} pairs, {man['relabel']['bytes']:,} bytes")
    click.echo(f"wrote {out / 'manifest.json'}; train with: sr-compress distill --method scratch|kd "
               f"--data {out} --scale {man['scale']} --patch-size {man['patch_size']}")
