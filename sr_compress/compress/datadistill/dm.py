"""Distribution matching (DM, Zhao & Bilen 2023) shared by ``pixel_dm`` and ``gsdd``.

Per pseudo-class c, synthetic samples S_c = decode(z_c) are pulled toward the real patches of the
class in an embedding space φ, under one siamese augmentation draw ω for both sides:

    L = Σ_c ‖ mean_i φ(A_ω(x_i^c)) − mean_j φ(A_ω(decode(z_j^c))) ‖²  +  λ R(z)

φ is either a randomly initialised ConvNet drawn afresh every iteration (DM's ψ) or a fixed
embedding (the teacher's features, GSDD). R is the latent diversity regulariser (mean pairwise
cosine similarity of mean-centred latents of a class). Only z receives gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import augment
from .base import DistillContext, Distilled
from .clustering import allocate


@dataclass
class DMArgs:
    """The DM keys ``pixel_dm`` and ``gsdd`` share (their sections inherit these)."""

    iterations: int = 200  # latent optimisation steps
    lr: float = 0.01  # Adam step on the latents
    real_batch: int = 32  # real patches per class per iteration
    net_width: int = 32  # ψ: randomly initialised ConvNet (DM's ConvNet, width reduced for CPU)
    net_depth: int = 3
    diversity: float = 0.1  # λ of the latent diversity regulariser (GSDD ablation)
    augment: list[str] = field(default_factory=lambda: ["color", "crop", "cutout", "flip", "scale"])

    def __post_init__(self) -> None:
        if self.iterations < 0 or self.real_batch < 1:
            raise ValueError(f"iterations must be >= 0 and real_batch >= 1, got {self.iterations}, {self.real_batch}")
        unknown = sorted(set(self.augment) - set(augment.DEFAULT_STRATEGY))
        if unknown:
            raise ValueError(f"augment: unknown operation {unknown[0]!r} (known: {', '.join(augment.DEFAULT_STRATEGY)})")


class DMConvNet(nn.Module):
    """DM's ConvNet feature extractor: [conv3x3 → instance norm → ReLU → avgpool2] × depth."""

    def __init__(self, width: int = 32, depth: int = 3, channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = channels
        for _ in range(depth):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.GroupNorm(width, width, affine=True),
                       nn.ReLU(inplace=True), nn.AvgPool2d(2)]
            c = width
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)


def sample_embedder(args: DMArgs, generator: torch.Generator, device: torch.device) -> DMConvNet:
    """A freshly initialised, frozen ψ (PyTorch default init, seeded from ``generator``)."""
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DMConvNet(args.net_width, args.net_depth)
    return net.to(device).eval().requires_grad_(False)


def dm_loss(psi: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, syn: torch.Tensor,
            omega: augment.AugParams) -> torch.Tensor:
    """‖mean φ(A_ω(real)) − mean φ(A_ω(syn))‖² for one class (the real side carries no gradient)."""
    with torch.no_grad():
        fr = psi(augment.apply(real, omega)).mean(0)
    fs = psi(augment.apply(syn, omega)).mean(0)
    return ((fr - fs) ** 2).sum()


def diversity(z: torch.Tensor) -> torch.Tensor:
    """Mean off-diagonal cosine similarity of mean-centred latents (0 for a single latent)."""
    n = z.shape[0]
    if n < 2:
        return z.new_zeros(())
    flat = z.flatten(1)
    flat = F.normalize(flat - flat.mean(1, keepdim=True), dim=1)
    sim = flat @ flat.t()
    return (sim.sum() - sim.diagonal().sum()) / (n * (n - 1))


def optimise_latents(
    decode: Callable[[torch.Tensor], torch.Tensor],
    real_by_class: list[torch.Tensor],
    z_by_class: list[torch.Tensor],
    args: DMArgs,
    seed: int = 0,
    device: torch.device | None = None,
    features: Callable[[torch.Tensor], torch.Tensor] | None = None,
    clamp: tuple[float, float] | None = (0.0, 1.0),
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[list[torch.Tensor], list[dict[str, float]]]:
    """Distribution matching through ``decode``. ``real_by_class``: uint8 or float (N_c, 3, S, S);
    ``z_by_class``: initial latents per class. ``features`` None: a fresh random ψ every iteration.
    ``clamp`` keeps z in the range ``decode`` was trained on. Returns (latents, history)."""
    device = device or torch.device("cpu")
    g = torch.Generator().manual_seed(seed)
    zs = [z.detach().clone().to(device).requires_grad_(True) for z in z_by_class]
    opt = torch.optim.Adam(zs, lr=args.lr)
    strategy = tuple(args.augment)
    history: list[dict[str, float]] = []
    bar = tqdm(range(args.iterations), desc="dm latents", leave=False)
    for it in bar:
        psi = features if features is not None else sample_embedder(args, g, device)
        match = torch.zeros((), device=device)
        reg = torch.zeros((), device=device)
        for c, z in enumerate(zs):
            pool = real_by_class[c]
            pick = torch.randint(len(pool), (min(args.real_batch, len(pool)),), generator=g)
            real = pool[pick].to(device)
            real = real.float() / 255.0 if real.dtype == torch.uint8 else real
            syn = decode(z).clamp(0, 1)
            omega = augment.sample_params(g, strategy)
            match = match + dm_loss(psi, real, syn, omega)
            reg = reg + diversity(z)
        reg = reg / len(zs)
        loss = match + args.diversity * reg
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if clamp is not None:
            with torch.no_grad():
                for z in zs:
                    z.clamp_(*clamp)
        rec = {"loss": loss.item(), "match": match.item(), "diversity": reg.item()}
        history.append(rec)
        bar.set_postfix(match=f"{rec['match']:.3g}")
        if on_step is not None:
            on_step(it, rec)
    return [z.detach() for z in zs], history


def class_groups(labels: torch.Tensor, classes: int) -> list[torch.Tensor]:
    """Pool indices (into ``labels``) of each pseudo-class."""
    return [torch.nonzero(labels == c).squeeze(1) for c in range(classes)]


@dataclass
class ClassStarts:
    """Per pseudo-class: the real patches to match, the pool indices a latent starts from, the latents."""

    class_ids: list[int] = field(default_factory=list)
    real: list[torch.Tensor] = field(default_factory=list)
    picks: list[torch.Tensor] = field(default_factory=list)
    latents: list[torch.Tensor] = field(default_factory=list)


def class_starts(ctx: DistillContext, start: Callable[[torch.Tensor], torch.Tensor]) -> ClassStarts:
    """``ipc`` patches per pseudo-class drawn from the whole pool (seeded), each turned into a latent by ``start``.

    The real distribution of a class is all its pool patches (not only the informative part).
    """
    cfg = ctx.cfg
    _, labels = ctx.pseudo_classes(torch.arange(len(ctx.pool)))
    g = torch.Generator().manual_seed(cfg.seed)
    out = ClassStarts()
    groups = class_groups(labels, cfg.classes)
    for c, (members, k) in enumerate(zip(groups, allocate([len(m) for m in groups], cfg.ipc))):
        if k == 0:
            continue
        pick = members[torch.randperm(len(members), generator=g)[:k]]
        out.class_ids.append(c)
        out.real.append(ctx.pool.patches[members])
        out.picks.append(pick)
        out.latents.append(start(pick))
    return out


def decoded(ctx: DistillContext, starts: ClassStarts, zs: list[torch.Tensor],
            decode: Callable[[torch.Tensor], torch.Tensor], role: str) -> list[Distilled]:
    """The optimised latents decoded to HR patches, each recorded with the pool patch it started from."""
    out: list[Distilled] = []
    with torch.no_grad():
        for c, z, idx in zip(starts.class_ids, zs, starts.picks):
            hr = decode(z).clamp(0, 1).cpu()
            for j in range(len(z)):
                origin = ctx.origin(int(idx[j]))
                origin["role"] = role
                out.append(Distilled(hr[j], c, origin))
    return out
