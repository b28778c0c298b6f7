"""Reader for ncnn's ``.bin`` weight file: the layers' blobs concatenated in ``.param`` order.

Per ncnn ``src/modelbin.cpp``: a blob read with type 0 starts with a 4-byte little-endian tag —
``0`` float32, ``0x01306B47`` float16, ``0x000D4B38`` int8, ``0x0002C056`` float32 with tag;
any other tag whose bytes do not sum to zero is a 256-entry float32 table followed by uint8
indices. float16/int8/index data are padded to a multiple of 4 bytes. Type 1 blobs (biases,
slopes, scales) are bare float32 without a tag.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...errors import CheckpointError

TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32_TAGGED = 0x0002C056


def _align4(n: int) -> int:
    return (n + 3) // 4 * 4


class WeightReader:
    """Sequential reader; each ``load`` consumes one blob and says which storage it found."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.data = self.path.read_bytes()
        except OSError as err:
            raise CheckpointError(f"cannot read ncnn weights {self.path}: {err} (the .bin must sit "
                                  "beside the .param with the same stem)") from None
        self.offset = 0
        self.storages: dict[str, int] = {}

    def _take(self, nbytes: int, layer: str) -> bytes:
        end = self.offset + nbytes
        if end > len(self.data):
            raise CheckpointError(
                f"{self.path} is truncated: layer {layer} needs bytes {self.offset}..{end} but the file has "
                f"{len(self.data)} (re-copy the .bin, or it belongs to another .param)")
        chunk = self.data[self.offset:end]
        self.offset = end
        return chunk

    def _count(self, kind: str) -> None:
        self.storages[kind] = self.storages.get(kind, 0) + 1

    def raw(self, n: int, layer: str) -> torch.Tensor:
        """A type-1 blob: ``n`` bare little-endian float32."""
        arr = np.frombuffer(self._take(4 * n, layer), dtype="<f4")
        return torch.from_numpy(arr.astype(np.float32))

    def tagged(self, n: int, layer: str) -> tuple[torch.Tensor, str]:
        """A type-0 blob of ``n`` values -> (float32 values, storage); int8 stays unscaled."""
        head = self._take(4, layer)
        tag = int.from_bytes(head, "little")
        if tag == TAG_FP16:
            arr = np.frombuffer(self._take(_align4(2 * n), layer)[:2 * n], dtype="<f2")
            kind = "fp16"
        elif tag == TAG_INT8:
            arr = np.frombuffer(self._take(_align4(n), layer)[:n], dtype=np.int8)
            kind = "int8"
        elif tag == TAG_FP32_TAGGED or sum(head) == 0:
            arr = np.frombuffer(self._take(4 * n, layer), dtype="<f4")
            kind = "fp32"
        else:
            table = np.frombuffer(self._take(256 * 4, layer), dtype="<f4")
            idx = np.frombuffer(self._take(_align4(n), layer)[:n], dtype=np.uint8)
            arr = table[idx]
            kind = "table"
        self._count(kind)
        return torch.from_numpy(arr.astype(np.float32)), kind

    def remaining(self) -> int:
        return len(self.data) - self.offset
