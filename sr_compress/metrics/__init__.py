"""Standard SR metrics (Y-channel PSNR/SSIM) and optional no-reference metrics."""
