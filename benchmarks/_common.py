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
"""

from __future__ import annotations

import argparse
import functools
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _results import RESULTS_DIR, machine_line, md_table, update_section

__all__ = [
    "RESULTS_DIR", "Budget", "add_run_args", "benchmark_set", "command_line", "data_root", "evaluate",
    "load_or_reason", "machine_line", "md_table", "render", "shared", "start", "work_dir", "write_results",
]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TEMPLATES = HERE / "templates"


# ------------------------------------------------------------------------------------------ data
def data_root() -> Path:
    """``$SR_COMPRESS_SHARED_DATA`` or ``../shared/data`` beside the repository (as the tests do)."""
    env = os.environ.get("SR_COMPRESS_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


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


def evaluate(model: Any, bench: Any, scale: int | None = None) -> dict[str, Any]:
    """PSNR/SSIM under the protocol (Y BT.601, crop = scale, uint8): a ModelDescriptor, ``"bicubic"``
    or an upscale function, run on whole images on the CPU."""
    from sr_compress.evaluate.sr_eval import evaluate_model, torch_upscale_fn
    from sr_compress.models.registry import ModelDescriptor

    fn = torch_upscale_fn(model) if isinstance(model, ModelDescriptor) else model
    return evaluate_model(fn, bench, scale, progress=False)


# ----------------------------------------------------------------------------- arguments, budget
def add_run_args(ap: argparse.ArgumentParser, section: str, threads: int = 2) -> None:
    """The arguments every script takes (one argument group, so ``--help`` shows them together)."""
    g = ap.add_argument_group("run")
    g.add_argument("--threads", type=int, default=threads, help="torch CPU threads")
    g.add_argument("--budget-s", type=float, default=None,
                   help="start no new measurement after this many seconds (the rest is listed as not run)")
    g.add_argument("--section", default=section,
                   help="RESULTS.md section / results JSON name (a second configuration gets its own)")
    g.add_argument("--no-update", action="store_true", help="print only; leave RESULTS.md alone")


@dataclass
class Budget:
    budget_s: float | None
    t0: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def spent(self) -> bool:
        return self.budget_s is not None and self.elapsed() > self.budget_s


def start(args: argparse.Namespace) -> Budget:
    import torch

    torch.set_num_threads(args.threads)
    return Budget(args.budget_s)


def work_dir(path: Path, overwrite: bool) -> Path:
    """An empty scratch folder at ``path``; an existing non-empty one is emptied only on ``--overwrite``."""
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            sys.exit(f"error: {path} exists and is not empty: pass --overwrite to delete it, or another --work")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------------------- output
def command_line(script: str) -> str:
    """The command that reproduces this run (for the section's "Command:" line)."""
    return " ".join(["python", f"benchmarks/{script}", *map(shlex.quote, sys.argv[1:])])


def render(template: str, **fields: Any) -> str:
    """``templates/<template>.md`` with its ``{field}`` s filled in."""
    return (TEMPLATES / f"{template}.md").read_text().format(**fields).rstrip()


def write_results(args: argparse.Namespace, markdown: str, data: Any) -> None:
    """Print the section, and write it (+ ``results/<section>.json``) unless ``--no-update``."""
    print(markdown)
    if not args.no_update:
        update_section(args.section, markdown, data)
        print(f"wrote benchmarks/RESULTS.md ({args.section}) and benchmarks/results/{args.section}.json")
