"""GSDD: generative-space dataset distillation for SR (AAAI 2024; no official code exists).

Distilled images are *generated*: S = G(z), with G a frozen SR generator (the paper: a pretrained
Real-ESRGAN generator; here the user's teacher checkpoint) and z its LR-sized input, optimised by
GAN inversion. The objective is distribution matching (DM, Zhao & Bilen 2023) per pseudo-class:

    L = Σ_c ‖ mean_i ψ(A_ω(x_i^c)) − mean_j ψ(A_ω(G(z_j^c))) ‖²  +  λ R(z)

ψ is a randomly initialised ConvNet drawn afresh every iteration, A_ω differentiable siamese
augmentation with one ω for both sides, and R the diversity regulariser: the mean pairwise
cosine similarity of (mean-centred) latents of the same class, λ = 0.1 (the paper's ablation).
The paper's OST dataset has 7 semantic classes; a folder of HR images has none, so classes are
k-means clusters of patch descriptors. z is initialised from real LR patches (MATLAB bicubic of
real HR patches of the class). Gradients reach z only: G and ψ are frozen.
Phase 2 (LR from the distilled HR by MATLAB bicubic) happens in the training data loader.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ...data.imresize import imresize
from . import augment
from .base import DatasetDistiller, DistillContext, Distilled, register_distiller
from .clustering import allocate
from .config import DataDistillConfig, GSDDArgs


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


def sample_embedder(args: GSDDArgs, generator: torch.Generator, device: torch.device) -> DMConvNet:
    """A freshly initialised, frozen ψ (PyTorch default init, seeded from ``generator``)."""
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DMConvNet(args.net_width, args.net_depth)
    return net.to(device).eval().requires_grad_(False)


def dm_loss(psi: nn.Module, real: torch.Tensor, syn: torch.Tensor, omega: augment.AugParams) -> torch.Tensor:
    """‖mean ψ(A_ω(real)) − mean ψ(A_ω(syn))‖² for one class."""
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
    generator: nn.Module,
    real_by_class: list[torch.Tensor],
    z_by_class: list[torch.Tensor],
    args: GSDDArgs,
    iterations: int,
    seed: int = 0,
    device: torch.device | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[list[torch.Tensor], list[dict[str, float]]]:
    """GAN inversion by distribution matching. ``real_by_class``: uint8 or float (N_c, 3, S, S);
    ``z_by_class``: float (ipc, 3, S/scale, S/scale) initial latents. Returns (latents, history)."""
    device = device or torch.device("cpu")
    g = torch.Generator().manual_seed(seed)
    zs = [z.detach().clone().to(device).requires_grad_(True) for z in z_by_class]
    opt = torch.optim.Adam(zs, lr=args.lr)
    strategy = tuple(args.augment)
    history: list[dict[str, float]] = []
    bar = tqdm(range(iterations), desc="gsdd latents", leave=False)
    for it in bar:
        psi = sample_embedder(args, g, device)
        match = torch.zeros((), device=device)
        reg = torch.zeros((), device=device)
        for c, z in enumerate(zs):
            pool = real_by_class[c]
            pick = torch.randint(len(pool), (min(args.real_batch, len(pool)),), generator=g)
            real = pool[pick].to(device)
            real = real.float() / 255.0 if real.dtype == torch.uint8 else real
            syn = generator(z).clamp(0, 1)
            omega = augment.sample_params(g, strategy)
            match = match + dm_loss(psi, real, syn, omega)
            reg = reg + diversity(z)
        reg = reg / len(zs)
        loss = match + args.diversity * reg
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for z in zs:
                z.clamp_(0, 1)  # z lives in the LR image domain G was trained on
        rec = {"loss": loss.item(), "match": match.item(), "diversity": reg.item()}
        history.append(rec)
        bar.set_postfix(match=f"{rec['match']:.3g}")
        if on_step is not None:
            on_step(it, rec)
    return [z.detach() for z in zs], history


@register_distiller
class GSDD(DatasetDistiller):
    name = "gsdd"
    needs_teacher = True

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []

    def distill(self, ctx: DistillContext) -> list[Distilled]:
        cfg: DataDistillConfig = ctx.cfg
        assert ctx.teacher is not None
        # the real distribution is the whole candidate pool (not only the informative part)
        cand = torch.arange(len(ctx.pool))
        _, labels = ctx.pseudo_classes(cand)
        g = torch.Generator().manual_seed(cfg.seed)
        real_by_class, z_init, init_idx = [], [], []
        groups = [torch.nonzero(labels == c).squeeze(1) for c in range(cfg.classes)]
        class_ids = []
        for c, (members, k) in enumerate(zip(groups, allocate([len(m) for m in groups], cfg.ipc))):
            if k == 0:
                continue
            class_ids.append(c)
            real_by_class.append(ctx.pool.patches[members])
            pick = members[torch.randperm(len(members), generator=g)[:k]]
            init_idx.append(pick)
            z_init.append(imresize(ctx.pool.float(pick), 1.0 / cfg.scale).clamp(0, 1))
        zs, self.history = optimise_latents(ctx.teacher, real_by_class, z_init, cfg.gsdd, cfg.iterations,
                                            seed=cfg.seed, device=ctx.device)
        out: list[Distilled] = []
        with torch.no_grad():
            for c, z, idx in zip(class_ids, zs, init_idx):
                hr = ctx.teacher(z).clamp(0, 1).cpu()
                for j in range(len(z)):
                    origin = ctx.origin(int(idx[j]))
                    origin["role"] = "latent initialised from this patch"
                    out.append(Distilled(hr[j], c, origin))
        return out
