"""k-means, k-center greedy and the per-class allocation of the image budget."""

from __future__ import annotations

import torch

from ...errors import UserInputError


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
