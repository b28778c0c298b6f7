"""The models one ``sr-serve`` process serves: parse ``--model`` specs, load a runner for each.

A spec is ``PATH`` or ``NAME=PATH``. ``PATH`` may be

* an export directory (with ``manifest.json``): the artifact is chosen by ``--backend`` and
  ``--precision`` (default: fp32, backends in :data:`BACKEND_PREFERENCE` order);
* one artifact file (``.onnx``, ``.xml``, ``.engine``/``.plan``);
* a PyTorch checkpoint (run with the ``torch`` backend).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..backends import serve_preference
from ..errors import UserInputError
from ..export.manifest import MANIFEST_NAME, ArtifactEntry, Manifest, find_manifest_for, read_manifest
from ..runtime.base import Runner
from .triton_client import TritonRunner, is_triton_url

# CPU first: OpenVINO is the fastest CPU runtime we ship, ONNX Runtime the most portable
BACKEND_PREFERENCE = serve_preference()  # from the backend registry (Backend.serve_rank)
PRECISION_PREFERENCE = ("fp32", "fp16", "int8")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class ServedModel:
    """One named model: its runner plus the tiling settings every request uses."""

    name: str
    runner: Runner
    source: str
    tile: int | None = 128
    overlap: int = 8
    arch: str | None = None

    @property
    def scale(self) -> int:
        return int(self.runner.info.scale)

    @property
    def backend(self) -> str:
        return self.runner.info.backend

    @property
    def precision(self) -> str:
        return self.runner.info.precision

    def describe(self) -> dict[str, Any]:
        info = self.runner.info
        req = info.size_requirements
        return {
            "name": self.name,
            "scale": self.scale,
            "backend": self.backend,
            "precision": self.precision,
            "arch": self.arch,
            "source": self.source,
            "tile": list(info.fixed_shape) if info.fixed_shape else self.tile,
            "overlap": self.overlap,
            "size_requirements": {"minimum": req.minimum, "multiple_of": req.multiple_of, "square": req.square},
        }


def parse_spec(spec: str) -> tuple[str, Path]:
    """``NAME=PATH`` or ``PATH`` (name = file stem / directory name)."""
    name, sep, path = spec.partition("=")
    if not sep or "/" in name or not name:
        path, name = spec, ""
    p = Path(path).expanduser()
    name = name or (p.name if p.is_dir() else p.stem)
    if not _NAME_RE.match(name):
        raise UserInputError(
            f"--model {spec}: model name {name!r} must be 1-64 letters, digits, '_', '-' or '.'; "
            "use --model NAME=PATH"
        )
    return name, p


def choose_artifact(manifest: Manifest, backend: str | None, precision: str | None) -> ArtifactEntry:
    """The manifest entry matching ``backend``/``precision`` (preferences fill the gaps)."""
    cands = [a for a in manifest.artifacts if backend in (None, a.backend) and precision in (None, a.precision)]
    if not cands:
        have = ", ".join(f"{a.backend}/{a.precision}" for a in manifest.artifacts) or "none"
        raise UserInputError(
            f"{manifest.root}: no artifact for backend={backend or 'any'} precision={precision or 'any'} "
            f"(available: {have}); pick one of those or re-run 'sr-compress export'"
        )

    def rank(a: ArtifactEntry) -> tuple[int, int]:
        b = BACKEND_PREFERENCE.index(a.backend) if a.backend in BACKEND_PREFERENCE else len(BACKEND_PREFERENCE)
        p = PRECISION_PREFERENCE.index(a.precision) if a.precision in PRECISION_PREFERENCE else 9
        return (p, b)

    return sorted(cands, key=rank)[0]


def load_served_model(
    spec: str,
    backend: str | None = None,
    precision: str | None = None,
    tile: int | None = 128,
    overlap: int = 8,
    device: str = "cpu",
    threads: int | None = None,
) -> ServedModel:
    """Load one ``--model`` spec into a :class:`ServedModel` (errors name the spec and the fix)."""
    from ..runtime.runners import make_runner

    name, _, url = ("", "", spec) if is_triton_url(spec) else spec.partition("=")
    if is_triton_url(url):
        # inference in Triton, everything image-shaped here (serve/triton_client.py)
        name = name or url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
        if not _NAME_RE.match(name):
            raise UserInputError(f"--model {spec}: model name {name!r} must be 1-64 letters, digits, '_', '-' "
                                 "or '.'; use --model NAME=triton://HOST:PORT/MODEL")
        triton = TritonRunner(url)
        return ServedModel(name=name, runner=triton, source=url, tile=triton.tile or tile, overlap=overlap,
                           arch=triton.arch)
    name, path = parse_spec(spec)
    if not path.exists():
        raise UserInputError(f"--model {spec}: {path} does not exist; pass an export directory or a checkpoint")
    arch: str | None = None
    if path.is_dir():
        if not (path / MANIFEST_NAME).is_file():
            raise UserInputError(f"--model {spec}: {path} has no {MANIFEST_NAME}; pass a directory written by "
                                 "'sr-compress export' or a checkpoint file")
        manifest = read_manifest(path)
        arch = manifest.arch
        if backend == "torch":
            if not manifest.source or not Path(manifest.source).is_file():
                raise UserInputError(f"--model {spec}: --backend torch needs the source checkpoint "
                                     f"{manifest.source!r} recorded in the manifest; pass the checkpoint instead")
            from ..models.load import load_model

            runner = make_runner(load_model(manifest.source, manifest.scale), "torch", precision, device, threads)
            source = str(manifest.source)
        else:
            entry = choose_artifact(manifest, backend, precision)
            runner = make_runner(entry, manifest=manifest, device=device, threads=threads)
            source = str(manifest.path_of(entry))
    else:
        runner = make_runner(path, backend, precision, device, threads)
        source = str(path)
        found = find_manifest_for(path)  # a bare artifact inside an export dir still has its arch recorded
        arch = found[0].arch if found else getattr(getattr(runner, "desc", None), "arch", None)
    if runner.info.scale < 1:
        raise UserInputError(f"--model {spec}: could not determine the model's scale")
    return ServedModel(name=name, runner=runner, source=source, tile=tile, overlap=overlap, arch=arch)
