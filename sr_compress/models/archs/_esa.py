"""Enhanced Spatial Attention (ESA), as used by RFDN (Liu et al. 2020) and RLFN (Kong et al. 2022).

A cheap large-receptive-field mask: 1x1 squeeze to ``f`` channels, strided 3x3 conv (stride 2,
no padding), 7x7/3 max-pool, 3x3 conv(s) on the tiny map, bilinear upsampling back, add a 1x1
skip of the squeezed features, 1x1 expand, sigmoid, multiply. RFDN's version has two more
convs on the pooled map (``conv_max`` and ``conv3_``, with ReLUs); RLFN removed them.
Needs an input of at least 15x15 (stride-2 conv then a 7x7 pool).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ESA_MIN_SIZE = 15


class ESA(nn.Module):
    def __init__(self, channels: int, f: int, rfdn_style: bool = False) -> None:
        super().__init__()
        self.rfdn_style = rfdn_style
        self.conv1 = nn.Conv2d(channels, f, 1)
        self.conv_f = nn.Conv2d(f, f, 1)
        if rfdn_style:
            self.conv_max = nn.Conv2d(f, f, 3, padding=1)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2, padding=0)
        self.conv3 = nn.Conv2d(f, f, 3, padding=1)
        if rfdn_style:
            self.conv3_ = nn.Conv2d(f, f, 3, padding=1)
        self.conv4 = nn.Conv2d(f, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        c1 = F.max_pool2d(self.conv2(c1_), kernel_size=7, stride=3)
        if self.rfdn_style:
            c3 = F.relu(self.conv_max(c1))
            c3 = self.conv3_(F.relu(self.conv3(c3)))
        else:
            c3 = self.conv3(c1)
        c3 = F.interpolate(c3, size=(x.shape[2], x.shape[3]), mode="bilinear", align_corners=False)
        mask = torch.sigmoid(self.conv4(c3 + self.conv_f(c1_)))
        return x * mask
