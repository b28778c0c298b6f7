"""Architectures, checkpoint loading, students, FLOP counting and the model zoo."""

from .flops import count_macs
from .load import load_model, save_model, sha256_file
from .registry import ArchSpec, ModelDescriptor, SizeRequirements, get_arch, iter_archs, register_arch
from .students import build_student

__all__ = [
    "ArchSpec", "ModelDescriptor", "SizeRequirements", "build_student", "count_macs", "get_arch", "iter_archs",
    "load_model", "register_arch", "save_model", "sha256_file",
]
