"""Image I/O, MATLAB-compatible bicubic resizing, datasets, degradations, default images."""
