"""The generative space of ``gsdd`` / ``d4m``: a :class:`~.vae.PatchVAE`, trained here and cached
like a teacher checkpoint.

A generator folder holds ``generator.pt`` (a weights-only state dict: tensors only, read with
``torch.load(weights_only=True)``) and ``generator.json`` (the JSON-able :class:`~.vae.VAEConfig`,
the data fingerprint and the training log). ``generator: train`` looks for the folder
``$SR_COMPRESS_CACHE/generators/vae-<key>`` first, where the key hashes the VAE config and the
sha256 of every source image (names sorted), and trains + writes it only when absent; any other
value is a folder to load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ...data.io import read_uint8
from ...errors import CheckpointError
from ...hashing import sha256_file
from .vae import PatchVAE, VAEConfig, train_vae

WEIGHTS = "generator.pt"
META = "generator.json"
FORMAT = "sr-compress/patch-vae/1"


@dataclass
class GeneratorArgs:
    """The keys ``gsdd`` and ``d4m`` share about their generative space."""

    generator: str = "train"  # "train" (cached by data + config) or a generator folder
    vae: VAEConfig = field(default_factory=VAEConfig)


def cache_root() -> Path:
    from ...data.defaults import cache_dir

    return cache_dir() / "generators"


def cache_key(files: list[Path], cfg: VAEConfig) -> str:
    h = hashlib.sha256(json.dumps({"format": FORMAT, "vae": asdict(cfg)}, sort_keys=True).encode())
    for f in sorted(files, key=lambda p: p.name):
        h.update(f"{f.name}:{sha256_file(f)}\n".encode())
    return h.hexdigest()[:16]


def save_generator(folder: Path, model: PatchVAE, cfg: VAEConfig, meta: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (WEIGHTS + ".tmp")
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    (folder / META).write_text(json.dumps({"format": FORMAT, "vae": asdict(cfg), **meta}, indent=2))
    tmp.replace(folder / WEIGHTS)  # the weights appear last: a folder with them is complete
    return folder


def load_generator(folder: str | Path) -> tuple[PatchVAE, dict[str, Any]]:
    """A saved generator folder → (frozen PatchVAE, its metadata); problems are one line."""
    from ...config import from_dict

    folder = Path(folder)
    if not (folder / WEIGHTS).is_file() or not (folder / META).is_file():
        raise CheckpointError(f"generator {folder}: needs {WEIGHTS} and {META} "
                              "(a folder written by 'distill-data ... generator: train'), or use 'train'")
    try:
        meta = json.loads((folder / META).read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"generator {folder / META}: not valid JSON ({err.msg})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"generator {folder / META}: format {meta.get('format')!r}, expected {FORMAT!r}")
    cfg = from_dict(VAEConfig, meta.get("vae"), src=str(folder / META), prefix="vae.")
    try:
        state = torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling refusal / corruption is the same user error
        raise CheckpointError(f"generator {folder / WEIGHTS}: cannot be read as a weights-only state dict "
                              f"({type(err).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"generator {folder / WEIGHTS}: not a state dict of tensors")
    model = PatchVAE(cfg.latent_channels, cfg.width)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"generator {folder / WEIGHTS}: does not match {META} "
                              f"({str(err).splitlines()[0][:120]})") from None
    return model.eval().requires_grad_(False), meta


def obtain_generator(args: GeneratorArgs, files: list[Path], device: str | torch.device = "cpu",
                     cache: Path | None = None) -> tuple[PatchVAE, dict[str, Any]]:
    """The generator ``args`` names: a folder, or ``train`` (cached). ``meta['folder']`` says where."""
    if args.generator != "train":
        model, meta = load_generator(args.generator)
        return model.to(device), {**meta, "folder": str(args.generator), "cached": True}
    key = cache_key(files, args.vae)
    folder = (cache or cache_root()) / f"vae-{key}"
    if (folder / WEIGHTS).is_file():
        model, meta = load_generator(folder)
        return model.to(device), {**meta, "folder": str(folder), "cached": True}
    images: list[np.ndarray] = [read_uint8(f) for f in files]
    tqdm.write(f"training the patch VAE on {len(images)} images ({args.vae.steps} steps); cached in {folder}")
    model, log = train_vae(images, args.vae, device)
    save_generator(folder, model, args.vae, {"key": key, "source_images": len(files), "train": log})
    return model, {"format": FORMAT, "vae": asdict(args.vae), "key": key, "train": log,
                   "folder": str(folder), "cached": False}
