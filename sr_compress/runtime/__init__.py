"""Backend runners (torch, onnxruntime, openvino, tensorrt) and the shared tiling engine."""
