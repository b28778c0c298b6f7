"""ncnn: ``.param`` + ``.bin`` (fp32 or fp16 weight storage) via pnnx, run with the ``ncnn`` package.

Route: ``torch.jit.trace`` -> the ``pnnx`` converter binary (PyPI ``pnnx``) -> ncnn. We use pnnx
rather than ONNX -> ncnn because pnnx is the converter ncnn maintains (``onnx2ncnn`` is
deprecated upstream), it keeps dynamic height/width when given a second input shape
(``inputshape2``: it rewrites size-dependent ops such as RLFN/IMDN's ``interpolate(size=x.shape)``
into shape expressions), and it fuses conv + activation itself. Every export is then run by the
ncnn runtime at a third input size and compared with PyTorch, so an architecture whose trace bakes
its shape in fails with an :class:`~sr_compress.errors.ExportError` instead of a wrong artifact.
pnnx runs under an address-space cap (:func:`pnnx_memory_limit`), so a graph too large for it is
an ExportError, not the OOM killer.

A model imported from an ncnn ``.param`` (``sr_compress/models/ncnn``, interpreted or converted to
its native architecture) skips pnnx: its own graph is written back with the current weights
(``models/ncnn/write.py``), fp32 or fp16 storage, and verified the same way. That is the route for
Real-ESRGAN x4plus, whose 23 dense blocks take pnnx's ncnn passes past 10 GB.

The runner is the CPU ``ncnn`` runtime with ``net.opt.num_threads`` = the requested threads and
fp32 arithmetic (fp16 storage/arithmetic off: like OpenVINO's f32 hint, the artifact's own
precision decides the fidelity, not the CPU's defaults).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

from ..errors import ExportError, UserInputError
from ..models.registry import SizeRequirements
from ..runtime.base import Runner, RunnerInfo, default_threads, probe_scale
from ..runtime.manifest import ArtifactEntry
from .base import Backend, ClickDecorator, ExportContext

INPUT, OUTPUT = "in0", "out0"  # the blob names pnnx gives a one-input, one-output module
# max |ncnn - PyTorch| on the example crops; fp16 weight storage rounds every weight
TOLERANCE = {"fp32": 1e-3, "fp16": 5e-2}


class NcnnRunner(Runner):
    """An ncnn ``.param``/``.bin`` pair on the CPU (images of a batch run one after another)."""

    def __init__(self, path: str | Path, threads: int | None = None, precision: str = "fp32",
                 scale: int | None = None, size_requirements: SizeRequirements | None = None,
                 input_name: str = INPUT, output_name: str = OUTPUT) -> None:
        import ncnn

        path = Path(path)
        weights = path.with_suffix(".bin")
        if not path.is_file():
            raise UserInputError(f"ncnn param file not found: {path}")
        if not weights.is_file():
            raise UserInputError(f"{path}: weights file {weights.name} is missing next to it")
        self.ncnn = ncnn
        self.net = ncnn.Net()
        opt = self.net.opt
        opt.num_threads = threads or default_threads()
        opt.use_vulkan_compute = False
        for flag in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage"):
            setattr(opt, flag, False)
        if self.net.load_param(str(path)) != 0:
            raise UserInputError(f"{path}: not a readable ncnn param file; re-export it with 'sr-compress export --ncnn'")
        if self.net.load_model(str(weights)) != 0:
            raise UserInputError(f"{weights}: ncnn could not read the weights (truncated or not for {path.name})")
        self.input_name, self.output_name = input_name, output_name
        self.info = RunnerInfo(
            backend="ncnn", precision=precision, scale=scale or 0,
            size_requirements=size_requirements or SizeRequirements(), artifact=str(path),
            extra={"threads": int(opt.num_threads), "device": "CPU", "ncnn": getattr(ncnn, "__version__", "?")},
        )
        if not self.info.scale:
            self.info.scale = probe_scale(self, None)

    def run(self, batch: np.ndarray) -> np.ndarray:
        outs = []
        for img in np.asarray(batch, dtype=np.float32):
            # clone: a Mat wrapping numpy memory has no refcount, and ncnn's in-place layers
            # (BinaryOp with a scalar, ...) dereference it (a segfault, not an error); keep
            # ``arr`` alive until then, the wrapping Mat does not own it
            arr = np.ascontiguousarray(img)
            mat = self.ncnn.Mat(arr).clone()
            ex = self.net.create_extractor()
            ex.input(self.input_name, mat)
            ret, out = ex.extract(self.output_name)
            if ret != 0:
                raise UserInputError(f"{self.info.artifact}: ncnn failed on a {img.shape} input (code {ret})")
            outs.append(np.array(out, dtype=np.float32, copy=True))
        return np.stack(outs)


def _check_inputs(desc: Any, limit: int) -> list[Any]:
    """Three LR inputs: the traced one (side <= ``limit``), pnnx's second shape (H and W both differ:
    pnnx learns from the pair which sizes are symbolic) and a third size neither trace saw."""
    from ..export.onnx import example_inputs
    from ..runtime.tiling import round_tile

    req = desc.size_requirements
    side = round_tile(limit, req)
    m = req.multiple_of
    example, other = example_inputs(desc.in_channels, side, side + max(m, 8 // m * m if m <= 8 else m))
    other = other[:1, :, :, : side - m] if side - m >= max(req.minimum, m) else other[:1]
    return [example, other, other[:, :, : other.shape[2] - m, :]]


def pnnx_memory_limit() -> int:
    """Bytes of address space the pnnx process may use: ``$SR_COMPRESS_PNNX_MAX_GB`` or half the RAM.

    pnnx's graph passes grow superlinearly on large dense graphs (the 23-block RRDBNet passed 10 GB);
    the cap makes that a clear ExportError instead of the kernel's OOM killer taking other processes.
    """
    env = os.environ.get("SR_COMPRESS_PNNX_MAX_GB")
    if env:
        try:
            return int(float(env) * (1 << 30))
        except ValueError:
            raise UserInputError(f"SR_COMPRESS_PNNX_MAX_GB={env!r} is not a number of GB") from None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 16 << 30
    return max(4 << 30, total // 2)


def _pnnx_convert(pt: Path, param: Path, shapes: list[tuple[int, ...]], fp16: bool, work: Path,
                  arch: str = "model") -> str:
    """Run the pnnx binary on the traced module under a memory cap; returns its log (ExportError on failure)."""
    import pnnx

    def shape(s: tuple[int, ...]) -> str:
        return "[" + ",".join(map(str, s)) + "]"

    cmd = [pnnx.EXEC_PATH, str(pt), f"inputshape={shape(shapes[0])}", f"inputshape2={shape(shapes[1])}",
           "device=cpu", f"fp16={int(fp16)}", f"ncnnparam={param}", f"ncnnbin={param.with_suffix('.bin')}",
           f"pnnxparam={work / 'm.pnnx.param'}", f"pnnxbin={work / 'm.pnnx.bin'}", f"pnnxpy={work / 'm_pnnx.py'}",
           f"pnnxonnx={work / 'm.pnnx.onnx'}", f"ncnnpy={work / 'm_ncnn.py'}"]
    import resource

    limit = pnnx_memory_limit()

    def cap() -> None:  # runs in the child before exec
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work, timeout=900, preexec_fn=cap)
    except subprocess.TimeoutExpired:
        raise ExportError("pnnx did not finish within 900 s") from None
    log = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode in (-6, -9) and ("bad_alloc" in log or "allocate memory" in log or proc.returncode == -9):
        raise ExportError(f"{arch}: pnnx ran out of memory (limit {limit / (1 << 30):.1f} GB); raise "
                          "SR_COMPRESS_PNNX_MAX_GB if the machine has more, or export with --onnx/--openvino")
    if proc.returncode != 0 or not param.is_file() or not param.with_suffix(".bin").is_file():
        lines = [ln for ln in log.splitlines() if ln.strip() and "Warning" not in ln]
        raise ExportError(f"pnnx could not convert the model (exit {proc.returncode}): "
                          f"{(lines[-1] if lines else 'no output')[:200]}")
    return log


def _unsupported(param: Path, log: str) -> str:
    """Why ncnn may refuse a converted graph: layer types pnnx left as PyTorch ops, or its warnings."""
    try:
        kinds = {ln.split()[0] for ln in param.read_text(errors="replace").splitlines()[2:] if ln.split()}
    except OSError:
        kinds = set()
    left = sorted(k for k in kinds if "." in k)  # ncnn layer types have no dots; torch.roll, F.pad do
    if left:
        return f"ops without an ncnn layer: {', '.join(left[:6])}"
    notes = [ln.strip() for ln in log.splitlines() if "not supported yet" in ln or "unsupported" in ln]
    return f"pnnx: {notes[-1][:120]}" if notes else ""


class NcnnBackend(Backend):
    name = "ncnn"
    description = "ncnn (.param/.bin) via pnnx; CPU runner from the ncnn package (Vulkan builds elsewhere)"
    suffixes = (".param",)
    precisions = ("fp32", "fp16")  # weight storage
    requires = ("ncnn", "pnnx")
    install_hint = "ncnn/pnnx are not installed: pip install ncnn pnnx"
    tools = ("ncnn", "pnnx")
    serve_rank = 3
    # `sr-compress eval --model x.param` loads the file as a PyTorch module (ncnn import)
    eval_by_runner = False

    def cli_options(self) -> list[ClickDecorator]:
        return [
            click.option("--ncnn", is_flag=True, help="Write ncnn .param/.bin (via pnnx) for each --ncnn-precision."),
            click.option("--ncnn-precision", default="fp32", show_default=True,
                         help="ncnn weight storage: fp32,fp16."),
        ]

    def flags(self) -> list[str]:
        return ["--ncnn"]

    def select(self, values: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        from ..export.build import parse_precisions

        precs = parse_precisions(values["ncnn_precision"], "--ncnn-precision", self.precisions)
        return (precs if values["ncnn"] else []), {}

    def export(self, ctx: ExportContext, precisions: list[str]) -> list[ArtifactEntry]:
        from ..models.ncnn.write import source_graph

        (ctx.tmp / "ncnn").mkdir(exist_ok=True)
        source = source_graph(ctx.desc)
        if source is not None:
            return self._rewrite(ctx, precisions, *source)
        return self._via_pnnx(ctx, precisions)

    def _rewrite(self, ctx: ExportContext, precisions: list[str], graph: Any, module: Any) -> list[ArtifactEntry]:
        """A model imported from ncnn: write its own graph back with the current weights (no pnnx).

        pnnx needs more than 10 GB for the 23-block Real-ESRGAN x4plus (see docs/export.md), and the
        imported graph already is the ncnn graph; re-serialising it keeps it layer for layer.
        """
        from ..models.ncnn.write import UnwritableGraph, write_ncnn

        desc = ctx.desc
        model = desc.model.eval().to("cpu", torch.float32)
        checks = _check_inputs(desc, 16)  # no trace: the sizes only have to differ
        rename = {module.input_name: INPUT, module.output_name: OUTPUT}
        out = []
        for prec in precisions:
            rel = f"ncnn/model.{prec}.param"
            try:
                write_ncnn(graph.layers, module, ctx.tmp / rel, prec == "fp16", graph.blob_count, rename)
            except UnwritableGraph as err:
                raise ExportError(f"{desc.arch}: cannot write the imported ncnn graph back ({err})") from None
            check = self._verify(ctx.tmp / rel, model, checks, prec, desc.arch, "")
            s = {"converter": "rewrite-imported", "source_param": Path(graph.source).name,
                 "source_sha256": desc.source_sha256, "fp16_storage": prec == "fp16", "input": INPUT,
                 "output": OUTPUT, "dynamic_axes": ["height", "width"], "export_check": check}
            out.append(ctx.entry(f"ncnn-{prec}", rel, self.name, prec, s, None, [rel[:-6] + ".bin"]))
            ctx.step(f"ncnn-{prec}")
        return out

    def _via_pnnx(self, ctx: ExportContext, precisions: list[str]) -> list[ArtifactEntry]:
        import pnnx

        desc = ctx.desc
        model = desc.model.eval().to("cpu", torch.float32)
        example, other, third = _check_inputs(desc, min(ctx.opts.tile or 64, 64))
        work = ctx.tmp / ".pnnx"
        work.mkdir()
        try:
            pt = work / "model.pt"
            try:
                with torch.no_grad(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # jit.trace is deprecated upstream; pnnx reads TorchScript
                    torch.jit.trace(model, example, check_trace=False).save(str(pt))
            except Exception as err:  # tracing errors are as varied as the models
                raise ExportError(f"{desc.arch}: torch.jit.trace failed ({str(err).splitlines()[0][:200]})") from None
            out = []
            for prec in precisions:
                rel = f"ncnn/model.{prec}.param"
                log = _pnnx_convert(pt, ctx.tmp / rel, [tuple(example.shape), tuple(other.shape)], prec == "fp16",
                                    work, desc.arch)
                check = self._verify(ctx.tmp / rel, model, [example, other, third], prec, desc.arch,
                                     _unsupported(ctx.tmp / rel, log))
                s = {"converter": "pnnx", "pnnx": str(getattr(pnnx, "__version__", "?")), "fp16_storage": prec == "fp16",
                     "input": INPUT, "output": OUTPUT, "dynamic_axes": ["height", "width"],
                     "trace_shapes": [list(example.shape), list(other.shape)], "export_check": check}
                out.append(ctx.entry(f"ncnn-{prec}", rel, self.name, prec, s, None, [rel[:-6] + ".bin"]))
                ctx.step(f"ncnn-{prec}")
            return out
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _verify(self, param: Path, model: Any, examples: list[Any], prec: str, arch: str,
                unsupported: str) -> dict[str, Any]:
        """Run the artifact at three sizes (two not traced) against PyTorch."""
        import torch

        try:
            runner = NcnnRunner(param, threads=None, precision=prec, scale=1)
        except UserInputError as err:
            why = unsupported or str(err).split(": ", 1)[-1]  # not the hidden build path
            raise ExportError(f"{arch}: ncnn cannot load the graph pnnx wrote ({why})") from None
        worst, shapes = 0.0, []
        for x in examples:
            with torch.no_grad():
                ref = model(x).numpy()
            y = runner.run(x.numpy())
            if y.shape != ref.shape:
                raise ExportError(f"{arch}: the ncnn graph gives {y.shape} for a {tuple(x.shape)} input, PyTorch "
                                  f"{ref.shape}; the trace baked a size in (not usable with dynamic H/W)")
            worst = max(worst, float(np.abs(y - ref).max()))
            shapes.append(list(x.shape))
        if not worst <= TOLERANCE[prec]:
            raise ExportError(f"{arch}: the ncnn graph computes something else than PyTorch (max abs difference "
                              f"{worst:.3g} > {TOLERANCE[prec]} on image crops)")
        return {"max_abs_vs_torch": worst, "shapes": shapes}

    def runner(self, path: Path, *, device: str = "cpu", threads: int | None = None, precision: str = "fp32",
               scale: int | None = None, size_requirements: SizeRequirements | None = None,
               **kwargs: Any) -> Runner:
        if device.startswith(("cuda", "gpu")):
            raise UserInputError("the ncnn runner here is CPU-only (the PyPI ncnn build has no Vulkan); use --device cpu")
        return NcnnRunner(path, threads, precision, scale, size_requirements)


BACKEND = NcnnBackend()
