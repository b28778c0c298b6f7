"""Compatibility alias: the manifest format now lives in :mod:`sr_compress.runtime.manifest`.

``read_manifest``/``find_manifest_for``/``tool_versions`` here are the registry-aware ones of
:mod:`sr_compress.backends` (backend names checked, every backend's tool versions recorded).
"""

from ..backends import find_manifest_for, read_manifest, tool_versions  # noqa: F401
from ..runtime.manifest import (  # noqa: F401
    MANIFEST_NAME,
    ArtifactEntry,
    Manifest,
    sha256_file,
)
