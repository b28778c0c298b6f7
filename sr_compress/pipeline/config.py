"""Typed config of ``sr-compress pipeline`` (``configs/pipeline/*.yaml``).

Paths in a pipeline file are resolved relative to the file itself, and the special data
names ``default`` (the embedded default images) and ``default-benchmark`` (a held-out
benchmark-layout folder made from them) work on any machine with no downloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TeacherStage:
    # a checkpoint path or zoo name; null trains a small demo teacher first (clearly labelled)
    checkpoint: str | None = None
    demo_spec: str = "edsr:c48b6"  # architecture of the demo teacher, if one is trained
    demo_iterations: int = 600
    demo_patch_size: int = 32
    demo_batch_size: int = 8
    demo_lr: float = 5e-4


@dataclass
class DataDistillStage:
    """Optional: distil the training images into a tiny set first, then train from it."""

    method: str | None = None  # a distill-data method (pixel_dm, gsdd, d4m, ...); null skips the stage
    # common keys (ipc, classes, patch_size, ...) and the method's own (iterations, or its section);
    # data/scale/teacher come from the pipeline
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DistillStage:
    config: str | None = None  # a configs/distill/*.yaml recipe
    method: str | None = None  # overrides the recipe's method
    student: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # dotted keys, e.g. train.iterations


@dataclass
class ExportStage:
    enabled: bool = True
    onnx: bool = True
    openvino: list[str] = field(default_factory=lambda: ["fp32", "fp16", "int8"])
    onnx_int8: bool = False
    trt: list[str] = field(default_factory=list)  # TensorRT precisions; needs the [gpu] extra and a GPU
    # any other registered backend -> precisions, e.g. {ncnn: [fp32, fp16]} (sr_compress/backends)
    backends: dict[str, list[str]] = field(default_factory=dict)
    calib: str | None = None  # INT8 calibration images; null = the embedded default images
    tile: int = 64


@dataclass
class BenchStage:
    enabled: bool = True
    size: str = "128x128"
    batch: list[int] = field(default_factory=lambda: [1])
    runs: int = 10
    warmup: int = 2
    compile: bool = False  # also time torch.compile (slow to compile on small CPUs)


@dataclass
class PipelineConfig:
    name: str = "pipeline"
    scale: int = 4
    data: list[str] = field(default_factory=lambda: ["default"])  # training images
    eval_data: list[str] = field(default_factory=lambda: ["default-benchmark"])
    teacher: TeacherStage = field(default_factory=TeacherStage)
    datadistill: DataDistillStage = field(default_factory=DataDistillStage)
    distill: DistillStage = field(default_factory=DistillStage)
    export: ExportStage = field(default_factory=ExportStage)
    bench: BenchStage = field(default_factory=BenchStage)
    gate: str | None = None  # a configs/gates/*.yaml spec; null skips the gate stage
    seed: int = 0
