"""Compatibility alias: the manifest format now lives in :mod:`sr_compress.runtime.manifest`."""

from ..runtime.manifest import (  # noqa: F401
    MANIFEST_NAME,
    ArtifactEntry,
    Manifest,
    find_manifest_for,
    read_manifest,
    sha256_file,
    tool_versions,
)
