"""``sr-compress gate``: check an export against a YAML spec of thresholds (exit 0 pass, 1 fail, 2 bad spec)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("gate")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--spec", "spec_path", type=click.Path(path_type=Path), required=True,
              help="Gate spec YAML or shipped name (default, student_x4).")
@click.option("--data", "data", multiple=True, help="Dataset folder(s); overrides the spec's 'data'.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the checks here.")
def command(directory: Path, spec_path: Path, data: tuple[str, ...], json_path: Path | None) -> None:
    """Run the checks of --spec on the export DIRECTORY; exit 1 if any fails."""
    from ..errors import GateFailed
    from ..evaluate.gate import load_spec, render_checks, run_gate
    from ..recipes import resolve_recipe
    from .validate import split_paths

    spec_path = resolve_recipe(spec_path, "gates", option="--spec")
    spec = load_spec(spec_path)
    result = run_gate(directory, spec, split_paths(data) or None, spec_path=spec_path)
    click.echo(render_checks(result))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        slim = {k: v for k, v in result.items() if k not in ("validation", "bench")}
        json_path.write_text(json.dumps(slim, indent=2, default=str) + "\n")
    if not result["passed"]:
        failed = [f"{c['artifact']} {c['check']}" for c in result["checks"] if not c["ok"]]
        raise GateFailed(f"{len(failed)} gate check(s) failed: {'; '.join(failed[:4])}")
