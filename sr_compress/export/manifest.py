"""``manifest.json`` of an export directory: enough to rebuild and to run every artifact.

It records the source checkpoint (path + sha256), the architecture/scale/hyper-parameters, the
size requirements, every artifact (relative path, backend, precision, opset, sha256, the exact
settings used) and the versions of the tools that produced them.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import UserInputError
from ..hashing import sha256_file
from ..models.registry import SizeRequirements

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1

BACKEND_BY_SUFFIX = {".onnx": "onnxruntime", ".xml": "openvino", ".engine": "tensorrt", ".plan": "tensorrt"}


def tool_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("sr-compress", "torch", "onnx", "onnxruntime", "onnxruntime-gpu", "openvino", "nncf", "tensorrt"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass
class ArtifactEntry:
    name: str  # unique id, e.g. "onnx-fp32", "openvino-int8"
    path: str  # relative to the export directory
    backend: str  # onnxruntime | openvino | tensorrt
    precision: str  # fp32 | fp16 | int8
    sha256: str = ""
    opset: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # every file of the artifact (e.g. .xml + .bin)


@dataclass
class Manifest:
    arch: str
    scale: int
    size_requirements: dict[str, Any]
    source: str | None = None
    source_sha256: str | None = None
    hyperparams: dict[str, Any] = field(default_factory=dict)
    params: int | None = None
    tile_hint: int | None = None
    # the exact PyTorch weights saved beside the artifacts ({"path", "sha256"}), if any
    reference: dict[str, Any] | None = None
    # how the artifacts were made beyond a plain export (e.g. {"method": "qat", ...}); empty if plain
    provenance: dict[str, Any] = field(default_factory=dict)
    artifacts: list[ArtifactEntry] = field(default_factory=list)
    tools: dict[str, str] = field(default_factory=tool_versions)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    format_version: int = FORMAT_VERSION
    root: Path | None = field(default=None, repr=False, compare=False)

    @property
    def requirements(self) -> SizeRequirements:
        r = self.size_requirements
        return SizeRequirements(int(r.get("minimum", 1)), int(r.get("multiple_of", 1)), bool(r.get("square", False)))

    def artifact(self, name: str) -> ArtifactEntry:
        for a in self.artifacts:
            if a.name == name:
                return a
        known = ", ".join(a.name for a in self.artifacts) or "none"
        raise UserInputError(f"artifact {name!r} not in {self.root or 'manifest'} (known: {known})")

    def path_of(self, entry: ArtifactEntry) -> Path:
        return (self.root or Path(".")) / entry.path

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("root", None)
        return d

    def write(self, directory: str | Path) -> Path:
        p = Path(directory) / MANIFEST_NAME
        p.write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")
        return p

    def verify(self) -> list[str]:
        """Problems found (missing files, hash mismatches); empty when all artifacts are intact."""
        problems = []
        root = self.root or Path(".")
        for a in self.artifacts:
            p = self.path_of(a)
            missing = [root / f for f in dict.fromkeys([a.path, *a.files]) if not (root / f).is_file()]
            if missing:
                problems.append(f"{a.name}: missing file {missing[0]}")
            elif a.sha256 and sha256_file(p) != a.sha256:
                problems.append(f"{a.name}: sha256 mismatch for {p} (file changed after export)")
        return problems


def read_manifest(directory_or_file: str | Path) -> Manifest:
    """Read ``DIR/manifest.json`` (or the given file) with a clear error when absent or malformed."""
    p = Path(directory_or_file)
    if p.is_dir():
        p = p / MANIFEST_NAME
    if not p.is_file():
        raise UserInputError(f"{p}: no manifest.json; pass a directory written by 'sr-compress export'")
    try:
        raw = json.loads(p.read_text())
        arts = [ArtifactEntry(**a) for a in raw.pop("artifacts", [])]
        raw.pop("root", None)
        m = Manifest(**raw, artifacts=arts)
    except (json.JSONDecodeError, TypeError, KeyError) as err:
        raise UserInputError(f"{p}: malformed manifest ({err}); re-run 'sr-compress export'") from None
    m.root = p.parent
    return m


def find_manifest_for(artifact: str | Path) -> tuple[Manifest, ArtifactEntry] | None:
    """The manifest (in the artifact's folder or its parent) that lists ``artifact``, if any."""
    art = Path(artifact).resolve()
    for d in (art.parent, art.parent.parent):
        if (d / MANIFEST_NAME).is_file():
            try:
                m = read_manifest(d)
            except UserInputError:
                return None
            for a in m.artifacts:
                if m.path_of(a).resolve() == art:
                    return m, a
    return None
