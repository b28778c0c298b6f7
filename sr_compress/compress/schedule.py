"""Learning-rate schedules as pure functions of the iteration.

The engine sets the LR of every student param group from :meth:`LRSchedule.lr_at` at the start
of each iteration instead of keeping a stateful torch scheduler: the value then depends only on
the iteration index, so resuming from a checkpoint or rebuilding the optimizer after progressive
growth (DFSR) cannot shift the schedule.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LRSchedule:
    base_lr: float
    total: int
    kind: str = "cosine"  # cosine | multistep | constant
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.5
    eta_min: float = 0.0

    def lr_at(self, iteration: int) -> float:
        """LR used by iteration ``iteration`` (0-based)."""
        if self.kind == "constant":
            return self.base_lr
        if self.kind == "multistep":
            # same convention as torch MultiStepLR: the decay applies from the milestone on
            return self.base_lr * self.gamma ** bisect.bisect_right(sorted(self.milestones), iteration)
        if self.kind == "cosine":
            # torch CosineAnnealingLR closed form with T_max = total iterations
            t = min(iteration, self.total)
            return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.total)) / 2
        raise ValueError(f"unknown LR schedule {self.kind!r}")

    def state_dict(self, iteration: int) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "base_lr": self.base_lr,
            "total": self.total,
            "milestones": list(self.milestones),
            "gamma": self.gamma,
            "eta_min": self.eta_min,
            "last_iteration": iteration,
        }
