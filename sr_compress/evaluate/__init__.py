"""Evaluation: benchmark PSNR/SSIM (``sr_eval``) and, in sibling modules, validation, benchmarking and gates."""
