"""Triton Inference Server: a model repository written from the export (``--triton REPO``); the
runner talks to a running server (``triton://HOST:PORT/MODEL``), with tiling on the client side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import MissingDependency, UserInputError
from ..models.registry import SizeRequirements
from ..runtime.base import Runner
from ..runtime.manifest import Manifest
from .base import Backend, ClickDecorator


class TritonBackend(Backend):
    name = "triton"
    description = "NVIDIA Triton model repository (ONNX or TensorRT plan) + HTTP client runner"
    suffixes = ()  # runs URLs, not files
    precisions = ("fp32", "fp16", "int8")
    honours = ("minimum", "multiple_of", "square")  # tiles of the recorded size are sent
    runs_artifacts = False

    def cli_options(self) -> list[ClickDecorator]:
        return [click.option("--triton", "triton_repo", type=click.Path(path_type=Path), default=None,
                             help="Also write a Triton model repository for the export into this folder.")]

    def flags(self) -> list[str]:
        return ["--triton"]

    def select(self, values: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        if values.get("triton_repo") is not None and not values.get("onnx", True):
            raise UserInputError("--triton needs the ONNX artifact: drop --no-onnx")
        return [], {}

    def after_publish(self, out: Path, manifest: Manifest, values: dict[str, Any]) -> str | None:
        repo = values.get("triton_repo")
        if repo is None:
            return None
        from ..export.triton import write_triton_repo

        trt = bool(values.get("trt"))
        model_dir = write_triton_repo(out, repo, tile=values.get("tile", 128), device="gpu" if trt else "cpu",
                                      kind="plan" if trt else "onnx")
        return f"triton model repository: {model_dir}"

    def runner(self, path: Path, *, device: str = "cpu", threads: int | None = None, precision: str = "fp32",
               scale: int | None = None, size_requirements: SizeRequirements | None = None,
               **kwargs: Any) -> Runner:
        try:
            from ..serve.triton_client import TritonRunner
        except ImportError as err:
            raise MissingDependency(f"the Triton client is not installed ({err}): pip install "
                                    "'sr-compress[triton]'") from None
        return TritonRunner(str(path))


BACKEND = TritonBackend()
