"""Turn ``--model`` into a Runner: an export directory, an artifact file, a checkpoint or an ncnn model."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserInputError
from ..runtime.base import Runner


def load_upscale_runner(
    model: str | Path,
    backend: str | None = None,
    precision: str | None = None,
    device: str = "cpu",
    threads: int | None = None,
    scale: int | None = None,
) -> Runner:
    """Export directories pick an artifact exactly as ``sr-serve`` does (``--backend``/``--precision``;
    ``--backend torch`` runs the export's ``reference.pth``);
    artifact files go to their backend's runner; anything else (checkpoint, zoo name, ncnn ``.param``)
    is loaded by :func:`sr_compress.models.load.load_model` and run with PyTorch."""
    from ..runtime.runners import make_runner

    path = Path(model).expanduser()
    if path.is_dir() and backend == "torch":
        # the export's own PyTorch reference (reference.pth, else the recorded source checkpoint)
        from ..evaluate.validate import load_reference
        from ..export.manifest import read_manifest

        return make_runner(load_reference(read_manifest(path)), "torch", precision, device, threads)
    if path.is_dir():
        # the server's loader: manifest, artifact choice and preferences live in one place
        from ..serve.models import load_served_model

        return load_served_model(f"model={path}", backend, precision, device=device, threads=threads).runner
    from ..backends import eval_suffixes

    # artifacts run on their runner; an ncnn .param is imported as a PyTorch module (like eval does)
    if path.suffix.lower() in set(eval_suffixes()):
        return make_runner(path, backend, precision, device, threads, scale=scale)
    if backend not in (None, "torch"):
        raise UserInputError(f"--model {model}: --backend {backend} needs an export directory or artifact file; "
                             "a checkpoint runs on torch")
    from ..models.load import load_model

    desc = load_model(model, scale=scale)
    return make_runner(desc, "torch", precision, device, threads)
