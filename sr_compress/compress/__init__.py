"""Distillation: the shared training engine, methods registry and dataset distillation."""
