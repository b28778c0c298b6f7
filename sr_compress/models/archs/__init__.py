"""One module per architecture family. The built-in list is ``models/builtin_archs.py``."""
