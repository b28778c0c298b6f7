"""One exception family for every user-facing failure.

The CLI maps these to a one-line message and an exit code (see ``sr_compress.cli``):
a user error (bad path, bad config, corrupt file) exits 2, a failed gate exits 1.
"""

from __future__ import annotations


class SRCompressError(Exception):
    """Base class. ``str(err)`` must name the thing that is wrong and how to fix it."""

    exit_code: int = 2


class UserInputError(SRCompressError):
    """A path, option or file the user gave cannot be used."""


class ConfigError(UserInputError):
    """A YAML config or CLI override is invalid (unknown key, wrong type, bad value)."""


class CheckpointError(UserInputError):
    """A checkpoint cannot be read, or its architecture cannot be detected."""


class UnsupportedArchitecture(CheckpointError):
    """The state dict matches no registered architecture."""


class MissingDependency(SRCompressError):
    """An optional dependency is absent; the message says which extra installs it."""


class ExportError(SRCompressError):
    """A model cannot be exported to a backend (names the op and module where known)."""


class GateFailed(SRCompressError):
    """At least one fidelity/throughput gate did not hold."""

    exit_code = 1
