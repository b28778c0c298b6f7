"""``sr-compress upscale``: run any model (checkpoint, ncnn, export directory) on files, folders, videos.

* :mod:`.model`    — one ``--model`` argument → one :class:`~sr_compress.runtime.base.Runner`;
* :mod:`.inputs`   — which files to read and where each result goes (relative paths kept);
* :mod:`.pipeline` — decode → infer → encode in three stages joined by bounded queues, so the
  three overlap; images go through the shared tiler and the shared image I/O (``data/io.py``);
* :mod:`.video`    — frames streamed through ffmpeg pipes (imageio-ffmpeg's binary).
"""

from __future__ import annotations

VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".gif", ".avi", ".m4v"}
