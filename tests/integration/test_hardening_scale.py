"""The real PAN x3 file, renamed, is not silently taken for x2 (x2/x3 weights share shapes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sr_compress.errors import CheckpointError
from sr_compress.models.load import load_model
from tests.helpers import shared_data

pytestmark = pytest.mark.integration


def test_renamed_pan_x3_needs_scale(tmp_path: Path) -> None:
    renamed = tmp_path / "pan_model.pth"
    shutil.copy(shared_data("weights", "PAN", "PANx3_DF2K.pth"), renamed)
    with pytest.raises(CheckpointError, match=r"ambiguous.*--scale 2 or --scale 3"):
        load_model(renamed)
    assert load_model(renamed, scale=3).scale == 3
    assert load_model(shared_data("weights", "PAN", "PANx3_DF2K.pth")).scale == 3  # the name's tag
    assert load_model(shared_data("weights", "PAN", "PANx4_DF2K.pth")).scale == 4  # unambiguous
