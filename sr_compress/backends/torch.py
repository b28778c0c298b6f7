"""PyTorch: the reference every artifact is compared with (checkpoints; no export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependency, UserInputError
from ..models.registry import ModelDescriptor, SizeRequirements
from ..runtime.base import Runner, RunnerInfo
from .base import Backend


class TorchRunner(Runner):
    """The PyTorch reference: eager (or ``torch.compile``d) module."""

    def __init__(self, desc: ModelDescriptor, precision: str = "fp32", device: str = "cpu",
                 threads: int | None = None, compile: bool = False) -> None:
        import torch

        if precision not in ("fp32", "fp16"):
            raise UserInputError(f"torch runner precision must be fp32 or fp16, got {precision!r}")
        if precision == "fp16" and not device.startswith("cuda"):
            raise UserInputError("fp16 PyTorch inference needs a CUDA device (--device cuda); use fp32 on CPU")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise MissingDependency("CUDA is not available to torch: install a CUDA build of torch or use --device cpu")
        self.torch = torch
        self.device = torch.device(device)
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        if threads:
            torch.set_num_threads(threads)
        self.desc = desc
        model = desc.model.eval().to(self.device, self.dtype)
        self.module = torch.compile(model) if compile else model
        self.info = RunnerInfo(
            backend="torch", precision=precision, scale=desc.scale, size_requirements=desc.size_requirements,
            artifact=desc.source, extra={"threads": torch.get_num_threads(), "device": device, "compiled": compile},
        )

    def run(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device, self.dtype)
            y = self.module(x)
            return y.float().cpu().numpy()


class TorchBackend(Backend):
    name = "torch"
    description = "PyTorch eager (or torch.compile), the reference"
    suffixes = (".pth", ".pt", ".ckpt", ".safetensors", ".bin")
    precisions = ("fp32", "fp16")
    tools = ("torch",)
    runs_artifacts = True  # --backend torch serves/validates the source checkpoint

    def runner(self, path: Path, *, device: str = "cpu", threads: int | None = None, precision: str = "fp32",
               scale: int | None = None, size_requirements: SizeRequirements | None = None,
               **kwargs: Any) -> Runner:
        from ..models.load import load_model

        return TorchRunner(load_model(path, scale), precision, device, threads, **kwargs)


BACKEND = TorchBackend()
