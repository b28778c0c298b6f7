"""Which files ``upscale`` reads and where each result is written.

A file argument maps to ``OUT/<stem><suffix>.<ext>`` (or to ``OUT`` itself when it is the only
input and ``OUT`` has an image suffix); a folder argument is searched recursively with ``--glob``
and every file keeps its path relative to that folder under ``OUT/<folder name>/`` when several
inputs are given, directly under ``OUT/`` when it is the only one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..data.io import IMAGE_SUFFIXES
from ..errors import UserInputError

FORMATS = ("png", "webp", "jpg", "same")
_SAME_OK = {".png": "png", ".webp": "webp", ".jpg": "jpg", ".jpeg": "jpg"}


@dataclass(frozen=True)
class Job:
    src: Path
    dst: Path
    fmt: str  # png | webp | jpg


def output_format(src: Path, fmt: str) -> tuple[str, str]:
    """(encoder format, file extension); ``same`` keeps PNG/WEBP/JPEG and writes PNG for the rest."""
    if fmt not in FORMATS:
        raise UserInputError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "same":
        enc = _SAME_OK.get(src.suffix.lower(), "png")
        ext = src.suffix if src.suffix.lower() in _SAME_OK else ".png"
        return enc, ext
    return fmt, "." + fmt


def _folder_files(folder: Path, pattern: str) -> list[Path]:
    files = [p for p in folder.rglob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files)


def collect_jobs(inputs: list[Path], out: Path, fmt: str = "png", suffix: str = "",
                 pattern: str = "*") -> list[Job]:
    """Every (source, destination) pair; errors name the input that does not exist."""
    if not inputs:
        raise UserInputError("upscale: give at least one INPUT file or folder")
    single_file = len(inputs) == 1 and inputs[0].is_file() and out.suffix.lower() in _SAME_OK
    jobs: list[Job] = []
    for inp in inputs:
        if not inp.exists():
            raise UserInputError(f"upscale: input {inp} does not exist")
        if inp.is_dir():
            base = out if len(inputs) == 1 else out / inp.name
            files = _folder_files(inp, pattern)
            if not files:
                raise UserInputError(f"{inp}: no images matching --glob {pattern!r} "
                                     f"(supported: {', '.join(sorted(IMAGE_SUFFIXES))})")
            for f in files:
                enc, ext = output_format(f, fmt)
                rel = f.relative_to(inp)
                jobs.append(Job(f, base / rel.parent / f"{rel.stem}{suffix}{ext}", enc))
        elif single_file:  # -o names the output file: its suffix is the format
            jobs.append(Job(inp, out, _SAME_OK[out.suffix.lower()]))
        else:
            enc, ext = output_format(inp, fmt)
            jobs.append(Job(inp, out / f"{inp.stem}{suffix}{ext}", enc))
    dup = _first_duplicate(jobs)
    if dup is not None:
        raise UserInputError(f"upscale: two inputs would both write {dup}; use --suffix or separate -o folders")
    return jobs


def _first_duplicate(jobs: list[Job]) -> Path | None:
    seen: set[Path] = set()
    for j in jobs:
        if j.dst in seen:
            return j.dst
        seen.add(j.dst)
    return None
