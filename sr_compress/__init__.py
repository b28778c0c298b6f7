"""sr-compress: distill, export, validate and serve compact super-resolution models."""

__version__ = "0.1.0"
