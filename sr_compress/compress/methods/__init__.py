"""One module per distillation method. The built-in list is ``compress/builtin_methods.py``."""
