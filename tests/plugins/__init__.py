"""Toy plugins: each file adds one method, architecture or dataset distiller, registered on import,
touching no other file. ``tests/unit/test_plugins.py`` proves they reach the CLI and the generic
tests; docs/architecture.md uses them as the worked example."""
