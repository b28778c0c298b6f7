"""compat: torchvision/spandrel import on CPU torch; optional deps fail with the extra to install.

The import checks run in a fresh interpreter so that the import state of this test process (which
other tests may already have patched) cannot hide a failure.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest

from sr_compress.compat import require
from sr_compress.errors import MissingDependency


def test_ensure_torchvision_makes_torchvision_and_spandrel_importable():
    if importlib.util.find_spec("torchvision") is None or importlib.util.find_spec("spandrel") is None:
        pytest.skip("torchvision/spandrel not installed")
    code = """
        import importlib.util, sys
        # 1. importing sr-compress (CLI, data, evaluation) pulls in none of the optional packages
        import sr_compress, sr_compress.cli, sr_compress.data.datasets, sr_compress.evaluate.sr_eval
        loaded = [m for m in ("torchvision", "spandrel", "basicsr", "pyiqa") if m in sys.modules]
        assert not loaded, f"imported eagerly: {loaded}"
        # 2. after ensure_torchvision, torchvision and spandrel import and their Python parts work
        from sr_compress.compat import ensure_torchvision, torchvision_was_patched
        tv = ensure_torchvision()
        assert tv is not None and tv is ensure_torchvision()  # idempotent
        import torch, torchvision, spandrel
        from spandrel import ModelLoader
        from torchvision.transforms import functional as F
        assert F.hflip(torch.arange(4.0).view(1, 1, 4)).flatten().tolist() == [3.0, 2.0, 1.0, 0.0]
        if importlib.util.find_spec("spandrel_extra_arches"):
            import spandrel_extra_arches
        if torchvision_was_patched():
            # 3. the compiled kernels are unusable and say so, instead of crashing the process
            try:
                torchvision.ops.nms(torch.rand(3, 4), torch.rand(3), 0.5)
            except RuntimeError:
                print("patched")
        else:
            print("clean")
    """
    # a fresh interpreter importing torch, torchvision and spandrel: ~5 s of CPU, but minutes of wall
    # time on a loaded machine (it timed out at 120 s there)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] in {"patched", "clean"}


def test_require_names_the_extra():
    with pytest.raises(MissingDependency, match=r"pip install 'sr-compress\[gpu\]'"):
        require("surely_not_installed_module_xyz", "gpu", what="TensorRT")
    assert require("json", "dev").dumps([1]) == "[1]"
