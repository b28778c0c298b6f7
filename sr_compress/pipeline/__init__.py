"""The one-command pipeline: teacher → distill → eval → export → validate → bench → gate."""
