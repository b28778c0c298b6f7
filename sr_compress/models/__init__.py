"""Architectures, checkpoint loading, students, FLOP counting and the model zoo."""

from .registry import ArchSpec, ModelDescriptor, SizeRequirements, get_arch, iter_archs, register_arch

__all__ = ["ArchSpec", "ModelDescriptor", "SizeRequirements", "get_arch", "iter_archs", "register_arch"]
