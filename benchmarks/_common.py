"""Plumbing every benchmark script shares: where the data is, loading and evaluating a model under
the protocol, the run budget, the shared arguments, and writing a RESULTS.md section.

How to use it (every script in this folder; eval_weights.py and datadistill_table.py already do):

- Run a script as ``python benchmarks/<name>.py``. It imports the installed ``sr_compress``
  (``pip install -e .``) and this module as ``from _common import ...`` (Python puts the
  script's folder on ``sys.path``): no script edits ``sys.path``.
- ``data_root()`` / ``shared(...)`` instead of a local ``../shared/data`` lookup;
  ``benchmark_set(name, scale)`` (cached), ``load_or_reason(path, scale)``, ``evaluate(model, bench)``
  instead of local copies; ``to_uint8`` from ``sr_compress.data.io`` for the protocol's rounding.
- ``add_run_args(ap)`` for ``--threads/--budget-s/--section/--no-update``, then
  ``budget = start(args)``; ``write_results(args, markdown, data)`` at the end.
- ``work_dir(path, overwrite)`` for scratch folders: an existing one is only emptied when the
  user passed ``--overwrite`` (no silent deletion).
- Keep the Markdown prose in a template next to the script (``templates/<section>.md``,
  ``str.format`` fields) and only the numbers in code: ``render(template, **fields)``.

What it offers, by group:

- data: ``data_root()``, ``shared(*parts)``, ``benchmark_set(name, scale)``; ``add_data_args(ap)``
  adds ``--data-root`` (applied by ``start``; default ``$SR_COMPRESS_SHARED_DATA`` or ../shared/data).
- models, metrics: ``load_or_reason(path, scale)``, ``load_spec(spec, scale)`` (``student:ARCH:SPEC``
  or a checkpoint under ``weights/``), ``evaluate(model, bench, scale)``.
- arguments: ``add_run_args(ap, section)`` (``--threads --budget-s --section --no-update/--no-results
  --json``), ``add_seed_args(ap)`` (``--seeds 0,1,2``), ``add_work_args(ap, default)`` (``--work
  --overwrite``); parsers ``int_list``, ``str_list``, ``size_hw`` for comma lists and ``HxW``.
- run: ``start(args)`` → ``Budget`` (threads, data root, a clock), ``work_dir(path, overwrite)``,
  ``discard(path)`` (only inside a folder ``work_dir`` prepared in this run); ``run_cli(cmd, log,
  threads)`` runs one ``sr-compress`` step and returns the CPU seconds that child cost.
- statistics (>= 3 seeds, paired): ``mean_std(xs)``, ``paired_diff(a, b)``, ``pm(xs)``.
- output: ``command_line(script, prefix)``, ``render(template, **fields)``, ``write_results(args, md,
  data)`` / ``write_section(args, name, md, data)``, ``read_results(name)``, ``machine_line()``,
  ``md_table(headers, rows)``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _results import RESULTS_DIR, machine_line, md_table, update_section

__all__ = [
    "RESULTS_DIR", "Budget", "add_data_args", "add_run_args", "add_seed_args", "add_work_args", "benchmark_set",
    "command_line", "data_root", "discard", "evaluate", "int_list", "load_or_reason", "load_spec", "machine_line",
    "md_table", "mean_std", "paired_diff", "pm", "read_results", "render", "run_cli", "set_data_root", "shared",
    "size_hw", "start", "str_list", "work_dir", "write_results", "write_section",
]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TEMPLATES = HERE / "templates"


# ------------------------------------------------------------------------------------------ data
_DATA_ROOT: list[Path] = []  # set by ``--data-root`` (``start``), else the environment decides


def data_root() -> Path:
    """``--data-root``, else ``$SR_COMPRESS_SHARED_DATA``, else ``../shared/data`` beside the repository
    (as the tests do)."""
    if _DATA_ROOT:
        return _DATA_ROOT[0]
    env = os.environ.get("SR_COMPRESS_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def set_data_root(path: Path | str | None) -> None:
    """Make ``data_root()`` return ``path`` (``None``: back to the environment / default)."""
    _DATA_ROOT.clear()
    if path is not None:
        _DATA_ROOT.append(Path(path).expanduser())
    benchmark_set.cache_clear()


def shared(*parts: str) -> Path:
    return data_root().joinpath(*parts)


@functools.cache
def benchmark_set(name: str, scale: int) -> Any:
    """``shared/data/benchmarks/<name>`` at ``scale`` (LR from its ``LR_bicubic`` files), loaded once."""
    from sr_compress.data.datasets import load_benchmark

    return load_benchmark(shared("benchmarks", name), scale)


# ------------------------------------------------------------------------------- models, metrics
def load_or_reason(path: Path, scale: int | None = None) -> tuple[Any, str | None]:
    """(descriptor, None), or (None, one-line reason) when the file is missing or does not load."""
    from sr_compress.models.load import load_model

    if not path.is_file():
        return None, "file missing"
    try:
        return load_model(path, scale=scale), None
    except Exception as err:  # noqa: BLE001 - a benchmark reports any loader failure and goes on
        return None, f"{type(err).__name__}: {str(err).splitlines()[0][:140]}"


def load_spec(spec: str, scale: int = 4, seed: int = 0) -> Any:
    """A ModelDescriptor from ``student:ARCH:SPEC`` (a fresh student, seeded), a path, or a path
    relative to ``shared/data/weights`` (``RLFN/rlfn_x4.pth``)."""
    if spec.startswith("student:"):
        import torch

        from sr_compress.models.students import build_student

        torch.manual_seed(seed)
        return build_student(spec.split(":", 1)[1], scale)
    from sr_compress.models.load import load_model

    path = Path(spec).expanduser()
    return load_model(path if path.is_absolute() or path.exists() else shared("weights", spec))


def evaluate(model: Any, bench: Any, scale: int | None = None) -> dict[str, Any]:
    """PSNR/SSIM under the protocol (Y BT.601, crop = scale, uint8): a ModelDescriptor, ``"bicubic"``
    or an upscale function, run on whole images on the CPU."""
    from sr_compress.evaluate.sr_eval import evaluate_model, torch_upscale_fn
    from sr_compress.models.registry import ModelDescriptor

    fn = torch_upscale_fn(model) if isinstance(model, ModelDescriptor) else model
    return evaluate_model(fn, bench, scale, progress=False)


# ----------------------------------------------------------------------------- arguments, budget
def int_list(text: str) -> list[int]:
    """``"0,1,2"`` → ``[0, 1, 2]`` (an argparse ``type``)."""
    try:
        return [int(v) for v in str_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def str_list(text: str) -> list[str]:
    """``"Set5, Set14,"`` → ``["Set5", "Set14"]`` (an argparse ``type``)."""
    return [v.strip() for v in text.split(",") if v.strip()]


def size_hw(text: str) -> tuple[int, int]:
    """``"128x96"`` → ``(128, 96)`` (height x width; an argparse ``type``)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 128x128, got {text!r}") from None
    return h, w


def add_target_args(ap: argparse.ArgumentParser, targets_help: str) -> None:
    """Artifacts timed side by side in one process: ``LABEL=EXPORT_DIR:ARTIFACT`` targets, the
    square LR input side and the interleaved rounds (see :func:`artifact_target`)."""
    ap.add_argument("targets", nargs="+", help=targets_help)
    ap.add_argument("--size", type=int, default=128, help="LR side (square input)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)


def artifact_target(spec: str) -> tuple[str, Any, Any]:
    """``LABEL=EXPORT_DIR:ARTIFACT`` → (label, the export's manifest, the artifact's entry)."""
    from sr_compress.backends import read_manifest

    label, _, rest = spec.partition("=")
    directory, _, artifact = rest.rpartition(":")
    manifest = read_manifest(directory)
    return label, manifest, manifest.artifact(artifact)


def add_run_args(ap: argparse.ArgumentParser, section: str, threads: int = 2, *, budget: bool = True) -> None:
    """The arguments every script takes (one argument group, so ``--help`` shows them together);
    ``budget=False`` leaves out ``--budget-s`` for a script whose every phase has its own duration."""
    g = ap.add_argument_group("run")
    g.add_argument("--threads", type=int, default=threads, help="torch CPU threads")
    if budget:
        g.add_argument("--budget-s", type=float, default=None,
                       help="start no new measurement after this many seconds (the rest is listed as not run)")
    g.add_argument("--section", default=section,
                   help="RESULTS.md section / results JSON name (a second configuration gets its own)")
    g.add_argument("--no-update", "--no-results", dest="no_update", action="store_true",
                   help="print only; leave RESULTS.md and results/*.json alone")
    g.add_argument("--json", type=Path, default=None, metavar="PATH",
                   help="also write the results JSON here (with --no-update: only here)")


def add_data_args(ap: argparse.ArgumentParser) -> None:
    """``--data-root``: where ``shared(...)`` looks (``start`` applies it)."""
    g = ap.add_argument_group("data")
    g.add_argument("--data-root", type=Path, default=None,
                   help="shared data folder (benchmarks/, train/, weights/); default $SR_COMPRESS_SHARED_DATA "
                        "or ../shared/data beside the repository")


def add_seed_args(ap: argparse.ArgumentParser, default: str = "0,1,2") -> None:
    """``--seeds 0,1,2``: one run per seed, reported as mean ± std (and paired differences)."""
    ap.add_argument_group("seeds").add_argument(
        "--seeds", type=int_list, default=int_list(default), metavar="S,S,...",
        help=f"seeds, one run each; >= 3 for a mean ± std (default {default})")


def add_work_args(ap: argparse.ArgumentParser, default: Path) -> None:
    """``--work DIR --overwrite``: the scratch folder, never emptied without ``--overwrite``."""
    g = ap.add_argument_group("work folder")
    g.add_argument("--work", type=Path, default=default, help=f"scratch folder (default {default})")
    g.add_argument("--overwrite", action="store_true", help="empty --work first if it holds an earlier run")


@dataclass
class Budget:
    budget_s: float | None
    t0: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def spent(self) -> bool:
        return self.budget_s is not None and self.elapsed() > self.budget_s


def start(args: argparse.Namespace) -> Budget:
    """Apply ``--threads`` (and ``--data-root`` when the script has it); the clock starts here."""
    import torch

    torch.set_num_threads(args.threads)
    if getattr(args, "data_root", None) is not None:
        set_data_root(args.data_root)
    return Budget(getattr(args, "budget_s", None))


_PREPARED: set[Path] = set()  # the work folders this run emptied or created (what ``discard`` may touch)


def work_dir(path: Path, overwrite: bool) -> Path:
    """An empty scratch folder at ``path``; an existing non-empty one is emptied only on ``--overwrite``."""
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            sys.exit(f"error: {path} exists and is not empty: pass --overwrite to delete it, or another --work")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    _PREPARED.add(path.resolve())
    return path


def discard(path: Path) -> None:
    """Delete ``path``, something this run made inside a folder ``work_dir`` prepared (to free disk
    between measurements); anything else is refused, so a script cannot delete what it did not make."""
    p = path.resolve()
    if not any(p != root and p.is_relative_to(root) for root in _PREPARED):
        raise ValueError(f"discard({path}): not inside a work folder this run prepared with work_dir()")
    shutil.rmtree(p, ignore_errors=True)


CLI = [sys.executable, "-m", "sr_compress.cli"]


def run_cli(args: Sequence[str], log: Path, threads: int = 2) -> float:
    """Run ``sr-compress ARGS`` (the CLI of the interpreter running this script), appending its
    output to ``log``; return the CPU seconds (user + sys) of that child alone.

    ``os.wait4`` gives the child's own usage, so steps run side by side (threads of one script)
    do not blur each other's CPU time as ``RUSAGE_CHILDREN`` differences would. A failed step
    raises ``RuntimeError`` naming the command and the log.
    """
    cmd = [*CLI, *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    with log.open("a") as fh:
        fh.write("$ " + shlex.join(cmd) + "\n")
        fh.flush()
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        raise RuntimeError(f"failed: {shlex.join(cmd)} (see {log})")
    return round(usage.ru_utime + usage.ru_stime, 1)


# ------------------------------------------------------------------------------------ statistics
def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value; NaN for none)."""
    xs = [float(v) for v in values]
    if not xs:
        return math.nan, math.nan
    return statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def paired_diff(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Mean ± std of ``a[i] - b[i]`` (runs paired by seed / image): the comparison that cancels the
    seed's share of the spread."""
    if len(a) != len(b):
        raise ValueError(f"paired_diff needs as many values on each side ({len(a)} vs {len(b)})")
    return mean_std([x - y for x, y in zip(a, b)])


def pm(values: Sequence[float], digits: int = 2, fmt: Callable[[float], str] | None = None) -> str:
    """``"31.42 ± 0.05 (n=3)"``; one value prints alone (no spread was measured)."""
    m, s = mean_std(values)
    f = fmt or (lambda v: f"{v:.{digits}f}")
    return f(m) if len(values) == 1 else f"{f(m)} ± {f(s)} (n={len(values)})"


# ---------------------------------------------------------------------------------------- output
def command_line(script: str, prefix: str = "python") -> str:
    """The command that reproduces this run (for the section's "Command:" line), with the ``nice``
    level it ran at when that was not 0 (the times depend on it)."""
    level = os.nice(0)
    return " ".join([*(["nice", "-n", str(level)] if level else []), prefix, f"benchmarks/{script}",
                     *map(shlex.quote, sys.argv[1:])])


def render(template: str, **fields: Any) -> str:
    """``templates/<template>.md`` with its ``{field}`` s filled in."""
    return (TEMPLATES / f"{template}.md").read_text().format(**fields).rstrip()


def write_results(args: argparse.Namespace, markdown: str, data: Any) -> None:
    """Print the section, and write it (+ ``results/<section>.json``) unless ``--no-update``."""
    write_section(args, args.section, markdown, data)


def write_section(args: argparse.Namespace, name: str, markdown: str, data: Any) -> None:
    """``write_results`` for a script that writes more than one section (``name`` instead of
    ``--section``); ``--json PATH`` also gets the data (``{"markdown", "data"}``)."""
    print(markdown)
    if not getattr(args, "no_update", False):
        update_section(name, markdown, data)
        print(f"wrote benchmarks/RESULTS.md ({name}) and benchmarks/results/{name}.json")
    out = getattr(args, "json", None)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"section": name, "markdown": markdown, "data": data}, indent=2, default=str))
        print(f"wrote {out}")


def read_results(name: str) -> Any | None:
    """``benchmarks/results/<name>.json`` as written by an earlier run, or None (for ``--reuse``)."""
    path = RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None
