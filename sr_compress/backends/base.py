"""The :class:`Backend` interface: everything the toolkit knows about one inference runtime.

A backend says what its artifacts look like (suffixes, precisions), how to write them
(:meth:`Backend.export`, given an :class:`ExportContext` that builds the shared ONNX graph and the
calibration patches at most once), how to run them (:meth:`Backend.runner`), which options it adds
to ``sr-compress export`` (:meth:`Backend.cli_options` + :meth:`Backend.select`), what the manifest
records about it (:attr:`Backend.tools` versions plus the settings of each artifact entry) and which
size requirements its artifacts honour (:attr:`Backend.honours`). The CLI, the manifest check,
serve, the pipeline and the exportability matrix are generated from the registry of these.

Heavy runtimes are imported inside the methods that need them, so a backend module imports on
every machine; one whose :attr:`Backend.requires` modules are absent is registered as a
:class:`~sr_compress.registry.Missing` entry with :attr:`Backend.install_hint`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    import numpy as np

    from ..models.registry import ModelDescriptor, SizeRequirements
    from ..runtime.base import Runner
    from ..runtime.manifest import ArtifactEntry, Manifest

ClickDecorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class ExportContext(Protocol):
    """What an export step gets from the orchestration (``sr_compress/export/build.py``)."""

    desc: ModelDescriptor
    tmp: Path  # the hidden build folder; artifact paths are relative to it
    opts: Any  # sr_compress.export.build.ExportOptions

    def onnx(self) -> Path:
        """The FP32 ONNX graph every ONNX-derived backend starts from (exported on first use)."""

    def onnx_settings(self) -> dict[str, Any]:
        """The settings ``onnx()`` recorded (exporter, opset, verification errors, ...)."""

    def patches(self) -> list[np.ndarray]:
        """INT8 calibration patches (LR, CHW float32), computed on first use."""

    def calib_name(self) -> str:
        """What the patches were cut from, for the manifest."""

    def validation_bench(self) -> Any:
        """The benchmark used by accuracy-controlled quantization (``--val-data`` or the default)."""

    def entry(self, name: str, rel: str, backend: str, precision: str, settings: dict[str, Any],
              opset: int | None = None, extra_files: list[str] | None = None) -> ArtifactEntry:
        """A manifest entry for the file ``rel`` written under ``tmp`` (hashes it)."""

    def adopt(self, name: str, rel: str, sidecars: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """If ``opts.prebuilt`` names an already-built file for artifact ``name`` (e.g. a QAT INT8
        IR), copy it (and its ``sidecars`` suffixes) to ``rel`` and return settings; else None."""

    def step(self, label: str) -> None:
        """Advance the progress bar by one artifact."""


class Backend:
    """One inference runtime. Subclasses set the class attributes and override what they support."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    # artifact file suffixes this backend runs (the first one is what export writes)
    suffixes: ClassVar[tuple[str, ...]] = ()
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    # modules that must be importable, else the registry keeps a Missing entry with install_hint
    requires: ClassVar[tuple[str, ...]] = ()
    install_hint: ClassVar[str] = ""
    # packages whose versions every manifest records
    tools: ClassVar[tuple[str, ...]] = ()
    # the export starts from the shared ONNX graph (so the architecture must be ONNX-exportable)
    needs_onnx: ClassVar[bool] = False
    # size requirements its artifacts honour: "minimum", "multiple_of", "square"; "dynamic" = any H/W per
    # call. What a model needs and its backend does not honour is padded for or refused (backends/adapt.py)
    honours: ClassVar[tuple[str, ...]] = ("minimum", "multiple_of", "square", "dynamic")
    default_device: ClassVar[str] = "cpu"
    # position in sr-serve's choice among the artifacts of an export dir (lower first); None = never auto
    serve_rank: ClassVar[int | None] = None
    # `sr-compress eval --model FILE` runs FILE through this runner (False: the file is a PyTorch model)
    eval_by_runner: ClassVar[bool] = True
    # runs artifacts of an export dir in-process (validate, bench, gate, serve)
    runs_artifacts: ClassVar[bool] = True

    # -- export ---------------------------------------------------------------------------------
    def cli_options(self) -> list[ClickDecorator]:
        """click options this backend adds to ``sr-compress export``."""
        return []

    def select(self, values: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        """From the parsed CLI ``values``: (precisions to export, ExportOptions updates)."""
        return [], {}

    def flags(self) -> list[str]:
        """The export flags that select this backend (for messages and the CLI test)."""
        return []

    def check(self, opts: Any, precisions: list[str]) -> None:
        """Preconditions checked before anything is written (raise MissingDependency/UserInputError)."""

    def export(self, ctx: ExportContext, precisions: list[str]) -> list[ArtifactEntry]:
        """Write the artifacts for ``precisions`` under ``ctx.tmp`` and return their entries."""
        raise NotImplementedError(f"backend {self.name} has no export")

    def after_publish(self, out: Path, manifest: Manifest, values: dict[str, Any]) -> str | None:
        """Work done from the finished export directory (e.g. a Triton repository); a line to print."""
        return None

    # -- run --------------------------------------------------------------------------------------
    def runner(self, path: Path, *, device: str = "cpu", threads: int | None = None, precision: str = "fp32",
               scale: int | None = None, size_requirements: SizeRequirements | None = None,
               **kwargs: Any) -> Runner:
        """A :class:`~sr_compress.runtime.base.Runner` for the artifact at ``path``."""
        raise NotImplementedError(f"backend {self.name} cannot run artifact files")

    def __repr__(self) -> str:
        return f"<backend {self.name}>"
