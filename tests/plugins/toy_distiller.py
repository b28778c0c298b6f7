"""A toy dataset distiller: the first ``ipc`` candidate patches of each of ``classes`` groups."""

from __future__ import annotations

from sr_compress.compress.datadistill.common import (
    DatasetDistiller,
    DistillContext,
    Distilled,
    register_distiller,
)


@register_distiller
class ToyDistiller(DatasetDistiller):
    name = "toy"

    def distill(self, ctx: DistillContext) -> list[Distilled]:
        n = ctx.cfg.ipc * ctx.cfg.classes
        return [Distilled(ctx.pool.float([i])[0], i // ctx.cfg.ipc, ctx.origin(i)) for i in range(n)]
