"""Shared machinery of dataset distillation: config, candidate patch pool, embeddings,
k-means / k-center, the method registry, and the output folder (images + manifest).

Every method turns a folder of HR images into ``ipc * classes`` HR patches of side
``patch_size * scale`` (a multiple of ``scale``, so the engine's paired dataset can make the LR
side with MATLAB bicubic and crop a full ``patch_size`` LR patch from each of them).
"""

from __future__ import annotations

import json
import math
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ...config import to_dict
from ...data.imresize import imresize, modcrop
from ...data.io import list_images, read_uint8, write_image
from ...errors import UserInputError
from ...registry import Registry

MANIFEST = "manifest.json"
IMAGES_DIR = "images"
RELABEL_DIR = "relabel"


# ---------------------------------------------------------------------------------------------
# config
@dataclass
class GSDDArgs:
    lr: float = 0.01  # Adam step on the latents (pixel units of the LR image)
    real_batch: int = 32  # real patches per class per iteration
    net_width: int = 32  # ψ: randomly initialised ConvNet (DM's ConvNet, width reduced for CPU)
    net_depth: int = 3
    diversity: float = 0.1  # λ of the latent diversity regulariser (GSDD ablation)
    augment: list[str] = field(default_factory=lambda: ["color", "crop", "cutout", "flip", "scale"])


@dataclass
class PrototypeArgs:
    refine_steps: int = 0  # gradient steps pulling each chosen patch toward its cluster centre
    refine_lr: float = 0.005
    refine_max_change: float = 0.03  # L∞ bound of the refinement, keeps the patch a real photo


@dataclass
class DataDistillConfig:
    method: str = "gsdd"
    data: list[str] = field(default_factory=list)  # HR folders
    scale: int = 4
    patch_size: int = 24  # LR side; distilled HR patches are patch_size * scale
    ipc: int = 4  # images per (pseudo-)class
    classes: int = 4  # k-means pseudo-classes
    teacher: str | None = None
    embed: Literal["auto", "teacher", "random"] = "auto"  # auto: teacher if given, else random conv
    candidates_per_image: int = 16
    informative_fraction: float = 0.5  # prototypes/k-center keep the hardest fraction (bicubic PSNR)
    iterations: int = 200  # gsdd optimisation steps
    seed: int = 0
    relabel_views: int = 0  # >0: store teacher outputs for this many fixed views per image
    gsdd: GSDDArgs = field(default_factory=GSDDArgs)
    prototypes: PrototypeArgs = field(default_factory=PrototypeArgs)

    def __post_init__(self) -> None:
        if self.scale not in (1, 2, 3, 4, 8):
            raise ValueError(f"scale must be one of 1, 2, 3, 4, 8, got {self.scale}")
        if self.ipc < 1 or self.classes < 1:
            raise ValueError(f"ipc and classes must be >= 1, got ipc={self.ipc} classes={self.classes}")
        if self.patch_size < 4:
            raise ValueError(f"patch_size must be >= 4, got {self.patch_size}")
        if not 0.0 < self.informative_fraction <= 1.0:
            raise ValueError(f"informative_fraction must be in (0, 1], got {self.informative_fraction}")

    @property
    def hr_size(self) -> int:
        return self.patch_size * self.scale


# ---------------------------------------------------------------------------------------------
# candidate pool
@dataclass
class PatchPool:
    """Random HR crops of the source set (uint8, to keep thousands of them in memory)."""

    patches: torch.Tensor  # (N, 3, S, S) uint8
    origins: list[tuple[str, int, int]]  # (file name, top, left)
    bicubic_psnr: torch.Tensor  # (N,) dB of bicubic down/up-sampling; low = informative
    source_files: list[Path]

    def __len__(self) -> int:
        return self.patches.shape[0]

    def float(self, idx: torch.Tensor | list[int] | slice | None = None) -> torch.Tensor:
        p = self.patches if idx is None else self.patches[idx]
        return p.float() / 255.0


def source_files(folders: Sequence[str | Path]) -> list[Path]:
    if not folders:
        raise UserInputError("no source data: pass --data HR_DIR (a folder of HR images)")
    files: list[Path] = []
    for f in folders:
        files += list_images(f)
    return files


def bicubic_psnr(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Per-patch PSNR (RGB, [0,1]) of MATLAB-bicubic down- then up-sampling."""
    up = imresize(imresize(hr, 1.0 / scale), float(scale)).clamp(0, 1)
    mse = ((up - hr) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return -10.0 * torch.log10(mse)


def build_pool(cfg: DataDistillConfig, files: list[Path] | None = None) -> PatchPool:
    files = files if files is not None else source_files(cfg.data)
    rng = random.Random(cfg.seed)
    s = cfg.hr_size
    crops: list[np.ndarray] = []
    origins: list[tuple[str, int, int]] = []
    skipped = 0
    for f in tqdm(files, desc="candidate patches", leave=False):
        img = modcrop(read_uint8(f), cfg.scale, channels_last=True)
        h, w = img.shape[:2]
        if h < s or w < s:
            skipped += 1
            continue
        for _ in range(cfg.candidates_per_image):
            # aligned to the scale grid, so a patch is also a valid crop of the image's own LR
            top = rng.randrange(0, (h - s) // cfg.scale + 1) * cfg.scale
            left = rng.randrange(0, (w - s) // cfg.scale + 1) * cfg.scale
            crops.append(img[top : top + s, left : left + s])
            origins.append((f.name, top, left))
    if not crops:
        raise UserInputError(
            f"{cfg.data}: no image is at least {s}x{s} px; lower --patch-size (LR side, now {cfg.patch_size})"
        )
    patches = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
    psnrs = torch.cat([bicubic_psnr(patches[i : i + 256].float() / 255.0, cfg.scale)
                       for i in range(0, len(patches), 256)])
    if skipped:
        tqdm.write(f"note: {skipped} source image(s) smaller than {s}x{s} px were skipped")
    return PatchPool(patches, origins, psnrs, files)


def informative_subset(pool: PatchPool, fraction: float) -> torch.Tensor:
    """Indices of the ``fraction`` of candidates that bicubic reconstructs worst."""
    n = max(1, int(round(len(pool) * fraction)))
    return torch.argsort(pool.bicubic_psnr)[:n]


# ---------------------------------------------------------------------------------------------
# embeddings
class RandomConvEmbed(nn.Module):
    """A fixed, randomly initialised conv net; (mean, std) of its features per channel."""

    def __init__(self, width: int = 32, depth: int = 3, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        layers: list[nn.Module] = []
        c = 3
        for _ in range(depth):
            conv = nn.Conv2d(c, width, 3, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * math.sqrt(2.0 / (c * 9)))
                if conv.bias is not None:
                    conv.bias.zero_()
            layers += [conv, nn.ReLU(inplace=False), nn.AvgPool2d(2)]
            c = width
        self.net = nn.Sequential(*layers).requires_grad_(False).eval()

    def forward(self, hr: torch.Tensor) -> torch.Tensor:
        f = self.net(hr)
        return torch.cat([f.mean((2, 3)), f.std((2, 3))], 1)


class TeacherFeatureEmbed(nn.Module):
    """Teacher features through a forward hook: the last conv output still at LR resolution
    (the deepest body feature, before upsampling), pooled to (mean, std) per channel."""

    def __init__(self, teacher: nn.Module, scale: int) -> None:
        super().__init__()
        self.teacher = teacher
        self.scale = scale
        # body convs only: the sub-pixel conv (3*s^2 outputs) is also at LR resolution but holds
        # the RGB output in shuffled form, not features
        self._convs = [m for m in teacher.modules() if isinstance(m, nn.Conv2d)
                       and m.out_channels not in (1, 3, 3 * scale * scale)]
        if not self._convs:
            raise UserInputError("teacher has no conv layers to embed with; use --embed random")

    def forward(self, hr: torch.Tensor) -> torch.Tensor:
        lr = imresize(hr, 1.0 / self.scale).clamp(0, 1)
        lr = lr.to(next(self.teacher.parameters()).device)
        lr_hw = lr.shape[-2:]
        last: list[torch.Tensor] = []

        def hook(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
            if out.shape[-2:] == lr_hw:
                last[:] = [out]

        handles = [m.register_forward_hook(hook) for m in self._convs]
        try:
            self.teacher(lr)
        finally:
            for h in handles:
                h.remove()
        if not last:
            raise UserInputError("teacher exposes no LR-resolution features; use --embed random")
        f = last[0]
        return torch.cat([f.mean((2, 3)), f.std((2, 3))], 1)


def embed_patches(embed: Callable[[torch.Tensor], torch.Tensor], pool: PatchPool, idx: torch.Tensor,
                  batch: int = 64) -> torch.Tensor:
    """L2-normalised embeddings of the pool patches ``idx``."""
    out = []
    with torch.no_grad():
        for i in tqdm(range(0, len(idx), batch), desc="embedding", leave=False):
            out.append(embed(pool.float(idx[i : i + batch])))
    return F.normalize(torch.cat(out), dim=1)


# ---------------------------------------------------------------------------------------------
# clustering
def kmeans(x: torch.Tensor, k: int, iters: int = 50, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means with k-means++ seeding. Returns (centres (k, D), labels (N,))."""
    n = x.shape[0]
    if k > n:
        raise UserInputError(f"k-means needs at least k={k} points, got {n}: lower --ipc/--classes")
    g = torch.Generator().manual_seed(seed)
    x = x.float()
    centres = x[torch.randint(n, (1,), generator=g)]
    for _ in range(1, k):
        d2 = torch.cdist(x, centres).min(1).values ** 2
        probs = d2 / d2.sum() if d2.sum() > 0 else torch.full_like(d2, 1.0 / n)
        centres = torch.cat([centres, x[torch.multinomial(probs, 1, generator=g)]])
    labels = torch.zeros(n, dtype=torch.long)
    for it in range(iters):
        new_labels = torch.cdist(x, centres).argmin(1)
        if it > 0 and torch.equal(new_labels, labels):
            break
        labels = new_labels
        for j in range(k):
            members = x[labels == j]
            if len(members):
                centres[j] = members.mean(0)
            else:  # empty cluster: re-seed at the point worst served by the others
                far = torch.cdist(x, centres).min(1).values.argmax()
                centres[j] = x[far]
    labels = torch.cdist(x, centres).argmin(1)
    return centres, labels


def allocate(sizes: list[int], ipc: int) -> list[int]:
    """Images per class: ``ipc`` each, capped by the class size, with the shortfall of small
    classes handed (one at a time) to the classes with the most spare members, so the total
    stays ``ipc * len(sizes)`` whenever there are enough candidates."""
    counts = [min(ipc, n) for n in sizes]
    deficit = ipc * len(sizes) - sum(counts)
    while deficit > 0:
        spare = [n - c for n, c in zip(sizes, counts)]
        j = max(range(len(sizes)), key=lambda i: spare[i])
        if spare[j] <= 0:
            break
        counts[j] += 1
        deficit -= 1
    return counts


def kcenter_greedy(x: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    """Greedy farthest-point k-center (2-approximation). Returns k distinct indices into x."""
    n = x.shape[0]
    if k > n:
        raise UserInputError(f"k-center needs at least k={k} points, got {n}: lower --ipc/--classes")
    g = torch.Generator().manual_seed(seed)
    chosen = [int(torch.randint(n, (1,), generator=g))]
    dist = torch.cdist(x, x[chosen[-1:]]).squeeze(1)
    for _ in range(1, k):
        nxt = int(dist.argmax())
        chosen.append(nxt)
        dist = torch.minimum(dist, torch.cdist(x, x[nxt : nxt + 1]).squeeze(1))
    return torch.tensor(chosen, dtype=torch.long)


# ---------------------------------------------------------------------------------------------
# registry
@dataclass
class Distilled:
    """One output image: HR float (3, S, S) in [0, 1], its pseudo-class, provenance."""

    hr: torch.Tensor
    cls: int
    origin: dict[str, Any] | None = None


@dataclass
class DistillContext:
    cfg: DataDistillConfig
    pool: PatchPool
    teacher: nn.Module | None
    embed: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device

    _emb_cache: dict[str, Any] = field(default_factory=dict)

    def pseudo_classes(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(embeddings, pseudo-class labels) of pool patches ``idx`` (cached per index set)."""
        key = idx.numpy().tobytes().hex()
        if key not in self._emb_cache:
            emb = embed_patches(self.embed, self.pool, idx)
            _, labels = kmeans(emb, self.cfg.classes, seed=self.cfg.seed)
            self._emb_cache[key] = (emb, labels)
        return self._emb_cache[key]

    def origin(self, pool_index: int) -> dict[str, Any]:
        name, top, left = self.pool.origins[pool_index]
        return {"file": name, "top": top, "left": left, "pool_index": pool_index}


class DatasetDistiller(ABC):
    name: ClassVar[str]
    needs_teacher: ClassVar[bool] = False

    @abstractmethod
    def distill(self, ctx: DistillContext) -> list[Distilled]:
        """Return ``cfg.ipc * cfg.classes`` images."""


DISTILLERS: Registry[type[DatasetDistiller]] = Registry(
    "dataset-distillation method", builtins="sr_compress.compress.datadistill.builtin"
)
register_distiller = DISTILLERS.add_named  # class decorator: registers ``cls`` under ``cls.name``
get_distiller = DISTILLERS.get
list_distillers = DISTILLERS.sorted_names


# ---------------------------------------------------------------------------------------------
# teacher
def load_teacher(path: str, scale: int) -> nn.Module:
    """Frozen teacher through the model loader (our format, then spandrel)."""
    from ...models.load import load_model

    desc = load_model(path, scale=scale)
    if desc.scale != scale:
        raise UserInputError(f"--teacher {path}: a x{desc.scale} model, but --scale is {scale}")
    return desc.model.eval().requires_grad_(False)


def make_embed(cfg: DataDistillConfig, teacher: nn.Module | None) -> Callable[[torch.Tensor], torch.Tensor]:
    kind = cfg.embed
    if kind == "auto":
        kind = "teacher" if teacher is not None else "random"
    if kind == "teacher":
        if teacher is None:
            raise UserInputError("--embed teacher needs --teacher CKPT")
        return TeacherFeatureEmbed(teacher, cfg.scale)
    return RandomConvEmbed(seed=cfg.seed)


# ---------------------------------------------------------------------------------------------
# output
def folder_bytes(files: list[Path]) -> int:
    return sum(f.stat().st_size for f in files)


def _augment_view(x: torch.Tensor, v: int) -> torch.Tensor:
    """Fixed view ``v`` of the 8 dihedral transforms."""
    if v & 4:
        x = x.flip(-1)
    return torch.rot90(x, v % 4, dims=(-2, -1))


@torch.no_grad()
def write_relabel(out: Path, items: list[tuple[str, torch.Tensor]], teacher: nn.Module, scale: int,
                  views: int) -> list[dict[str, Any]]:
    """Teacher labels for fixed views: LR = bicubic(view) rounded to uint8, label = teacher(LR)."""
    rdir = out / RELABEL_DIR
    pairs = []
    for name, hr in tqdm(items, desc="teacher relabelling", leave=False):
        for v in range(views):
            view = _augment_view(hr, v)
            lr = (imresize(view.unsqueeze(0), 1.0 / scale).clamp(0, 1) * 255).round() / 255
            label = teacher(lr).clamp(0, 1)
            stem = Path(name).stem
            lr_name, hr_name = f"{stem}_v{v}_lr.png", f"{stem}_v{v}_teacher.png"
            write_image(rdir / lr_name, lr[0])
            write_image(rdir / hr_name, label[0])
            pairs.append({"lr": f"{RELABEL_DIR}/{lr_name}", "hr": f"{RELABEL_DIR}/{hr_name}", "view": v,
                          "source": f"{IMAGES_DIR}/{name}"})
    return pairs


def write_output(out: Path, items: list[Distilled], cfg: DataDistillConfig, files: list[Path],
                 wall_s: float, teacher: nn.Module | None = None) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    img_dir = out / IMAGES_DIR
    if img_dir.exists():
        stale = [p for p in img_dir.iterdir() if p.suffix == ".png"]
        if stale:
            raise UserInputError(f"{img_dir} already holds images; choose a new --out folder")
    entries: list[dict[str, Any]] = []
    named: list[tuple[str, torch.Tensor]] = []
    per_class: dict[int, int] = {}
    for it in items:
        i = per_class.get(it.cls, 0)
        per_class[it.cls] = i + 1
        name = f"c{max(it.cls, 0):02d}_{i:04d}.png" if it.cls >= 0 else f"r_{len(entries):04d}.png"
        write_image(img_dir / name, it.hr.clamp(0, 1))
        named.append((name, it.hr.clamp(0, 1)))
        entries.append({"file": f"{IMAGES_DIR}/{name}", "width": int(it.hr.shape[-1]),
                        "height": int(it.hr.shape[-2]), "class": int(it.cls),
                        "bytes": (img_dir / name).stat().st_size, "origin": it.origin})
    image_bytes = sum(e["bytes"] for e in entries)
    src_bytes = folder_bytes(files)
    manifest: dict[str, Any] = {
        "format": "sr-compress/distilled-data/1",
        "method": cfg.method,
        "source": {"folders": [str(d) for d in cfg.data], "images": len(files), "bytes": src_bytes},
        "scale": cfg.scale,
        "patch_size": cfg.patch_size,
        "hr_size": cfg.hr_size,
        "ipc": cfg.ipc,
        "classes": cfg.classes,
        "images": entries,
        "total_bytes": image_bytes,
        "ratio": image_bytes / src_bytes if src_bytes else None,
        "wall_time_s": round(wall_s, 3),
        "settings": to_dict(cfg),
        "relabel": None,
        "use_teacher_labels": False,
    }
    if cfg.relabel_views > 0:
        if teacher is None:
            raise UserInputError("--relabel-views needs --teacher CKPT")
        pairs = write_relabel(out, named, teacher, cfg.scale, cfg.relabel_views)
        rbytes = sum((out / p["lr"]).stat().st_size + (out / p["hr"]).stat().st_size for p in pairs)
        manifest["relabel"] = {"views": cfg.relabel_views, "pairs": pairs, "bytes": rbytes}
        manifest["use_teacher_labels"] = True
        manifest["total_bytes_with_labels"] = image_bytes + rbytes
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def read_manifest(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if p.name == IMAGES_DIR:
        p = p.parent
    mf = p / MANIFEST if p.is_dir() else p
    if not mf.is_file():
        raise UserInputError(f"{p}: no {MANIFEST}; pass the --out folder of 'sr-compress distill-data'")
    return json.loads(mf.read_text())


# ---------------------------------------------------------------------------------------------
# the driver
def run_data_distillation(cfg: DataDistillConfig, out: str | Path, device: str = "cpu",
                          teacher: nn.Module | None = None) -> dict[str, Any]:
    """Distil ``cfg.data`` into ``out`` (images/ + manifest.json); returns the manifest.

    ``teacher`` overrides loading ``cfg.teacher`` (for callers that already hold the module)."""
    out = Path(out)
    method = get_distiller(cfg.method)()
    if method.needs_teacher and not cfg.teacher and teacher is None:
        raise UserInputError(f"--method {cfg.method} needs --teacher CKPT (the frozen SR generator)")
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    dev = torch.device(device)
    if teacher is None and cfg.teacher:
        teacher = load_teacher(cfg.teacher, cfg.scale)
    if teacher is not None:
        teacher = teacher.to(dev).eval().requires_grad_(False)
    files = source_files(cfg.data)
    pool = build_pool(cfg, files)
    ctx = DistillContext(cfg, pool, teacher, make_embed(cfg, teacher), dev)
    items = method.distill(ctx)
    wall = time.perf_counter() - t0
    return write_output(out, items, cfg, files, wall, teacher)


# ---------------------------------------------------------------------------------------------
# training on the output
class TeacherLabelDataset(torch.utils.data.Dataset):
    """Training pairs from a distilled folder's teacher labels (``manifest.relabel``).

    Items are ``{"lr": (3, p, p), "hr": (3, p*s, p*s)}`` where ``hr`` is the *teacher's output*
    for a fixed augmented view (D4M's training-time soft labels, adapted to SR), not the
    distilled HR image. Random aligned crops and dihedral flips, like the engine's dataset.
    """

    def __init__(self, root: str | Path, scale: int, patch_size: int, length: int | None = None,
                 augment: bool = True) -> None:
        root = Path(root)
        root = root.parent if root.name == IMAGES_DIR else root
        man = read_manifest(root)
        if not man.get("relabel"):
            raise UserInputError(f"{root}: no teacher labels; rerun distill-data with --relabel-views N")
        if man["scale"] != scale:
            raise UserInputError(f"{root}: distilled at x{man['scale']}, but training is x{scale}")
        self.scale, self.patch_size, self.augment = scale, patch_size, augment
        self.pairs = []
        for p in man["relabel"]["pairs"]:
            lr, hr = read_uint8(root / p["lr"]), read_uint8(root / p["hr"])
            if min(lr.shape[:2]) < patch_size:
                raise UserInputError(f"{root / p['lr']}: smaller than patch_size {patch_size}; lower it")
            self.pairs.append((lr, hr))
        self.length = length or len(self.pairs)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        lr, hr = self.pairs[i % len(self.pairs)]
        p, s = self.patch_size, self.scale
        top = int(torch.randint(lr.shape[0] - p + 1, ()))
        left = int(torch.randint(lr.shape[1] - p + 1, ()))
        lt = torch.from_numpy(np.ascontiguousarray(lr[top : top + p, left : left + p])).permute(2, 0, 1)
        ht = torch.from_numpy(np.ascontiguousarray(hr[top * s : (top + p) * s, left * s : (left + p) * s]))
        ht = ht.permute(2, 0, 1)
        if self.augment:
            v = int(torch.randint(8, ()))
            lt, ht = _augment_view(lt, v), _augment_view(ht, v)
        return {"lr": lt.float().div(255).contiguous(), "hr": ht.float().div(255).contiguous()}


def open_training_set(path: str | Path, scale: int, patch_size: int, length: int | None = None,
                      augment: bool = True, teacher_labels: bool | None = None) -> torch.utils.data.Dataset:
    """The dataset to train on a distilled folder: teacher labels when the manifest asks for them
    (``use_teacher_labels``; override with ``teacher_labels``), else the images with bicubic LR."""
    root = Path(path)
    root = root.parent if root.name == IMAGES_DIR else root
    man = read_manifest(root)
    use = man.get("use_teacher_labels", False) if teacher_labels is None else teacher_labels
    if use:
        return TeacherLabelDataset(root, scale, patch_size, length, augment)
    from ...data.datasets import PairedPatchDataset

    return PairedPatchDataset([root / IMAGES_DIR], scale, patch_size, augment=augment, length=length)


def is_distilled_root(path: str | Path) -> bool:
    """True for an ``--out`` folder of ``distill-data`` (manifest.json + images/)."""
    p = Path(path).expanduser()
    mf = p / MANIFEST
    if not (p.is_dir() and mf.is_file() and (p / IMAGES_DIR).is_dir()):
        return False
    try:
        return str(json.loads(mf.read_text()).get("format", "")).startswith("sr-compress/distilled-data/")
    except (OSError, ValueError):
        return False


def distilled_training_set(paths: Sequence[str | Path], scale: int, patch_size: int | None,
                           augment: bool = True) -> torch.utils.data.Dataset | None:
    """What the engine trains on when ``--data`` names distilled folders: ``None`` when none of
    ``paths`` is one (the engine then reads them as plain HR folders); otherwise every distilled
    root goes through :func:`open_training_set` (teacher labels when its manifest asks for them)
    and every other path through the paired HR dataset, concatenated."""
    if not any(is_distilled_root(p) for p in paths):
        return None
    if patch_size is None:
        raise UserInputError("training on a distilled folder needs data.patch_size (the LR patch side)")
    from ...data.datasets import PairedPatchDataset

    parts: list[torch.utils.data.Dataset] = []
    for p in paths:
        if is_distilled_root(p):
            man = read_manifest(p)
            if man["scale"] != scale:
                raise UserInputError(f"{p}: distilled at x{man['scale']}, but training is x{scale}; "
                                     f"pass --scale {man['scale']}")
            parts.append(open_training_set(p, scale, patch_size, augment=augment))
        else:
            parts.append(PairedPatchDataset([p], scale, patch_size, augment=augment))
    return parts[0] if len(parts) == 1 else torch.utils.data.ConcatDataset(parts)
