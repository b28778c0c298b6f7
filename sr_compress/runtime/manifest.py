"""``manifest.json`` of an export directory: enough to rebuild and to run every artifact.

It records the source checkpoint (path + sha256), the architecture/scale/hyper-parameters, the
size requirements, every artifact (relative path, backend, precision, opset, sha256, the exact
settings used) and the versions of the tools that produced them, plus free-form ``provenance``
(how the model was made: e.g. ``{"qat": {...}}`` from ``quantize --qat``).

It sits below ``runtime/`` and ``export/`` alike (runners read it, export writes it) and knows no
backend: what depends on the backend registry is passed in by the layers above it — the names a
manifest may use (``read_manifest(..., known_backends=...)``) and the tools whose versions it
records (``Manifest(tools=...)``). ``sr_compress.backends.read_manifest`` / ``tool_versions`` supply
the registry's; callers above ``runtime/`` use those.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Collection
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

BASE_TOOLS = ("sr-compress", "torch", "onnx")


def tool_versions(packages: Collection[str] = BASE_TOOLS) -> dict[str, str]:
    """Installed versions of ``packages`` (and Python); those not installed are left out.

    The default is the base tools only; ``sr_compress.backends.tool_versions()`` adds every
    backend's ``tools``.
    """
    out = {"python": platform.python_version()}
    for pkg in dict.fromkeys(packages):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass
class ArtifactEntry:
    name: str  # unique id, e.g. "onnx-fp32", "openvino-int8"
    path: str  # relative to the export directory
    backend: str  # a registered backend name (sr_compress/backends), e.g. onnxruntime, openvino, ncnn
    precision: str  # fp32 | fp16 | int8
    sha256: str = ""
    opset: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # every file of the artifact (e.g. .xml + .bin)
    # sha256 of the artifact's other files (weights beside a .xml/.param), checked by verify()
    file_sha256: dict[str, str] = field(default_factory=dict)
    # how this artifact was made beyond its settings (e.g. {"quantized_by": "nncf-qat"})
    provenance: dict[str, Any] = field(default_factory=dict)


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
    artifacts: list[ArtifactEntry] = field(default_factory=list)
    # how the model itself was made, free-form JSON (e.g. {"qat": {"method": "nncf", ...}})
    provenance: dict[str, Any] = field(default_factory=dict)
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
            else:
                changed = [f for f, h in a.file_sha256.items() if sha256_file(root / f) != h]
                if changed:
                    problems.append(f"{a.name}: sha256 mismatch for {root / changed[0]} (file changed after export)")
        return problems


def read_manifest(directory_or_file: str | Path, known_backends: Collection[str] | None = None) -> Manifest:
    """Read ``DIR/manifest.json`` (or the given file) with a clear error when absent or malformed.

    With ``known_backends`` every artifact must name one of them (``sr_compress.backends.read_manifest``
    passes the registry's names); without, the backend names are not checked here.
    """
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
    except (json.JSONDecodeError, TypeError, KeyError, AttributeError) as err:
        raise UserInputError(f"{p}: malformed manifest ({err}); re-run 'sr-compress export'") from None
    m.root = p.parent
    if known_backends is not None:
        check_backends(m, known_backends, p)
    return m


def check_backends(manifest: Manifest, known: Collection[str], where: str | Path = "manifest") -> None:
    """Every artifact names one of the ``known`` backends."""
    for a in manifest.artifacts:
        if a.backend not in known:
            raise UserInputError(f"{where}: artifact {a.name!r} has unknown backend {a.backend!r} "
                                 f"(known: {', '.join(known)}); re-run 'sr-compress export'")


def find_manifest_for(artifact: str | Path,
                      known_backends: Collection[str] | None = None) -> tuple[Manifest, ArtifactEntry] | None:
    """The manifest (in the artifact's folder or its parent) that lists ``artifact``, if any."""
    art = Path(artifact).resolve()
    for d in (art.parent, art.parent.parent):
        if (d / MANIFEST_NAME).is_file():
            try:
                m = read_manifest(d, known_backends)
            except UserInputError:
                return None
            for a in m.artifacts:
                if m.path_of(a).resolve() == art:
                    return m, a
    return None
