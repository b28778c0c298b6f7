"""Parser for ncnn's text ``.param`` graph description (magic 7767517).

Format (ncnn ``docs/developer-guide/param-and-model-file-structure.md``)::

    7767517
    <layer count> <blob count>
    <type> <name> <n_in> <n_out> <in blobs...> <out blobs...> <id>=<value> ...

A value is an int, a float (contains ``.`` or ``e``), an array (old style ``-233XX=n,v,v`` for
id ``XX``, or new style ``XX=v,v``) or a string (starts with a letter or a quote). Pure text
parsing: nothing in the file is evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...errors import CheckpointError

MAGIC = 7767517
ParamValue = int | float | str | list[int] | list[float]


@dataclass(frozen=True)
class ParamDict:
    """The ``id=value`` pairs of one layer line, read with ncnn's defaults."""

    values: dict[int, ParamValue] = field(default_factory=dict)

    def get_int(self, key: int, default: int) -> int:
        v = self.values.get(key, default)
        if isinstance(v, list):
            raise ValueError(f"param {key} is an array, expected a number")
        return int(v)  # type: ignore[arg-type]

    def get_float(self, key: int, default: float) -> float:
        v = self.values.get(key, default)
        if isinstance(v, (list, str)):
            raise ValueError(f"param {key} is not a number")
        return float(v)

    def floats(self, key: int) -> list[float]:
        v = self.values.get(key, [])
        return [float(x) for x in v] if isinstance(v, list) else [float(v)]  # type: ignore[arg-type]

    def ints(self, key: int) -> list[int]:
        v = self.values.get(key, [])
        return [int(x) for x in v] if isinstance(v, list) else [int(v)]  # type: ignore[arg-type]

    def get_str(self, key: int, default: str = "") -> str:
        v = self.values.get(key, default)
        return v if isinstance(v, str) else default


@dataclass(frozen=True)
class LayerSpec:
    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: ParamDict
    line: int


@dataclass(frozen=True)
class NcnnGraph:
    layers: tuple[LayerSpec, ...]
    blob_count: int
    source: str


def _is_float(tok: str) -> bool:
    return "." in tok or "e" in tok.lower()


def _scalar(tok: str) -> int | float:
    return float(tok) if _is_float(tok) else int(tok)


def _parse_value(tok: str, old_array: bool) -> ParamValue:
    if old_array:
        # "-233XX=n,v1,...,vn": the length comes first
        n_str, _, rest = tok.partition(",")
        items = rest.split(",") if rest else []
        if int(n_str) != len(items):
            raise ValueError(f"array says {n_str} values but has {len(items)}")
        vals = [_scalar(t) for t in items]
        return [float(v) for v in vals] if any(_is_float(t) for t in items) else [int(v) for v in vals]
    if tok[:1].isalpha() or tok[:1] == '"':
        return tok.strip('"')
    if "," in tok:
        items = [t for t in tok.split(",") if t]
        if any(_is_float(t) for t in items):
            return [float(t) for t in items]
        return [int(t) for t in items]
    return _scalar(tok)


def parse_params(tokens: list[str]) -> ParamDict:
    """``["0=64", "1=3", "-23310=1,2.0e-01"]`` -> ParamDict (array ids folded back to 0..)."""
    out: dict[int, ParamValue] = {}
    for tok in tokens:
        key_s, sep, val = tok.partition("=")
        if not sep:
            raise ValueError(f"expected key=value, got {tok!r}")
        key = int(key_s)
        old_array = key <= -23300
        if old_array:
            key = -key - 23300
        if not 0 <= key < 32:
            raise ValueError(f"param id {key_s} out of range")
        out[key] = _parse_value(val, old_array)
    return ParamDict(out)


def _parse_layer(fields: list[str], lineno: int) -> LayerSpec:
    if len(fields) < 4:
        raise ValueError("a layer line needs: type name n_inputs n_outputs ...")
    ltype, name = fields[0], fields[1]
    n_in, n_out = int(fields[2]), int(fields[3])
    if n_in < 0 or n_out < 0 or len(fields) < 4 + n_in + n_out:
        raise ValueError(f"layer {name} declares {n_in} inputs and {n_out} outputs but lists fewer blobs")
    ins = tuple(fields[4:4 + n_in])
    outs = tuple(fields[4 + n_in:4 + n_in + n_out])
    params = parse_params(fields[4 + n_in + n_out:])
    return LayerSpec(ltype, name, ins, outs, params, lineno)


def read_param(path: str | Path) -> NcnnGraph:
    """Parse a text ``.param`` file; any malformed line is a one-line :class:`CheckpointError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"cannot read ncnn param file {path}: {err} (give a text .param; "
                              "binary .param.bin is not supported)") from None
    lines = [(i + 1, ln.split()) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    if not lines or lines[0][1] != [str(MAGIC)]:
        raise CheckpointError(f"{path} is not an ncnn text .param file (first line must be the magic {MAGIC})")
    try:
        n_layers, n_blobs = (int(v) for v in lines[1][1][:2])
    except (IndexError, ValueError):
        raise CheckpointError(f"{path}: line 2 must be '<layer count> <blob count>'") from None
    layers = []
    for lineno, fields in lines[2:]:
        try:
            layers.append(_parse_layer(fields, lineno))
        except ValueError as err:
            raise CheckpointError(f"{path}:{lineno}: malformed layer line: {err}") from None
    if len(layers) != n_layers:
        raise CheckpointError(f"{path} declares {n_layers} layers but has {len(layers)} layer lines "
                              "(truncated or edited file?)")
    return NcnnGraph(tuple(layers), n_blobs, str(path))
