"""φ: frozen feature extractors for PDD's distance terms and perceptual loss.

The paper uses ImageNet VGG19 (conv1_2 … conv5_4). Its weights cannot be downloaded here, so
three extractors are offered (all frozen, all return a list of NCHW feature maps):

``random``       a fixed-seed random multi-scale conv net (3 scales, ReLU, average pooling).
                 Random conv features are a known-good texture/structure descriptor (Ulyanov et
                 al. 2018 "Deep Image Prior"; He et al. 2016 "random-weight style transfer"),
                 and a fixed seed makes every run see the same φ. Default.
``generalist``   the first K conv layers of the frozen generalist itself, read with forward
                 hooks (the forward is aborted after the last hooked layer, so this is cheap).
``vgg19``        ImageNet VGG19's conv trunk (torchvision layout, pre-ReLU conv1_2 … conv5_4)
                 with weights read from a local file (``--feature-weights PATH``, a torchvision
                 ``vgg19`` state_dict); never downloaded.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from ..errors import UserInputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _freeze(m: nn.Module) -> nn.Module:
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


class RandomConvFeatures(nn.Module):
    """Fixed random conv pyramid; features after each scale's second conv (pre-pool)."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64), seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        blocks = []
        cin = 3
        for c in channels:
            conv1 = nn.Conv2d(cin, c, 3, padding=1)
            conv2 = nn.Conv2d(c, c, 3, padding=1)
            for conv in (conv1, conv2):
                # He-normal init from our own generator: independent of torch's global RNG state
                fan_in = conv.in_channels * 9
                with torch.no_grad():
                    conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                    if conv.bias is not None:
                        conv.bias.zero_()
            blocks.append(nn.Sequential(conv1, nn.ReLU(), conv2, nn.ReLU()))
            cin = c
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.AvgPool2d(2)
        _freeze(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        x = x * 2 - 1
        for i, b in enumerate(self.blocks):
            if i:
                x = self.pool(x)
            x = b(x)
            feats.append(x)
        return feats


class _Stop(Exception):
    pass


class GeneralistFeatures(nn.Module):
    """The first ``layers`` Conv2d outputs of a (copied, frozen) SR network applied to an image."""

    def __init__(self, model: nn.Module, layers: int = 3) -> None:
        super().__init__()
        self.net = _freeze(copy.deepcopy(model))
        convs = [m for m in self.net.modules() if isinstance(m, nn.Conv2d)]
        if not convs:
            raise UserInputError("features: generalist has no Conv2d layers; use --features random")
        self.convs = convs[:layers]
        self._out: list[torch.Tensor] = []
        for i, conv in enumerate(self.convs):
            conv.register_forward_hook(self._hook(i == len(self.convs) - 1))

    def _hook(self, last: bool):
        def fn(_m: nn.Module, _inp, out: torch.Tensor) -> None:
            self._out.append(out)
            if last:
                raise _Stop

        return fn

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self._out = []
        try:
            self.net(x)
        except _Stop:
            pass
        out, self._out = self._out, []
        return out


# torchvision vgg19().features indices of conv1_2, conv2_2, conv3_4, conv4_4, conv5_4 (pre-ReLU)
VGG19_LAYERS = {"conv1_2": 2, "conv2_2": 7, "conv3_4": 16, "conv4_4": 25, "conv5_4": 34}
# torchvision's vgg19 configuration "E": conv widths, "M" = 2x2 max-pool
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
             512, 512, 512, 512, "M")


def vgg19_trunk(upto: int | None = None) -> nn.Sequential:
    """``torchvision.models.vgg19().features`` layer for layer (same indices and state_dict keys).

    Built here rather than through torchvision so that only the conv trunk up to the deepest
    layer used is allocated (the full model carries a 120M-parameter classifier), and with
    non-inplace ReLUs so that the pre-ReLU maps we return are not overwritten by the next layer.
    """
    layers: list[nn.Module] = []
    cin = 3
    for v in VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU()]
            cin = int(v)
    return nn.Sequential(*layers[: None if upto is None else upto + 1])


def _read_vgg_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise UserInputError(f"--feature-weights {path}: file not found (a torchvision vgg19 state_dict)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        raise UserInputError(f"--feature-weights {path}: not a readable PyTorch state_dict ({err})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserInputError(f"--feature-weights {path}: expected a state_dict, got {type(state).__name__}")
    # a whole-model state_dict (features.N.weight) or the trunk's own (N.weight)
    return {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")} or state


class VGG19Features(nn.Module):
    """ImageNet VGG19 pre-ReLU maps, weights read from a local file (never downloaded)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self, weights: str | Path,
        layers: tuple[str, ...] = ("conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4"),
    ) -> None:
        super().__init__()
        path = Path(weights)
        unknown = [name for name in layers if name not in VGG19_LAYERS]
        if unknown:
            raise UserInputError(f"VGG19 layer {unknown[0]!r} unknown: use {', '.join(VGG19_LAYERS)}")
        self.idx = sorted(VGG19_LAYERS[name] for name in layers)
        self.body = vgg19_trunk(self.idx[-1])
        state = _read_vgg_state(path)
        need = self.body.state_dict()
        missing = [k for k in need if k not in state]
        if missing:
            raise UserInputError(
                f"--feature-weights {path}: not a VGG19 state_dict (no {missing[0]!r}; "
                "expected torchvision vgg19 keys like features.0.weight)"
            )
        try:
            self.body.load_state_dict({k: state[k] for k in need})
        except RuntimeError as err:
            raise UserInputError(f"--feature-weights {path}: not a VGG19 state_dict ({err})") from None
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        _freeze(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.body):
            x = layer(x)
            if i in self.idx:
                out.append(x)
        return out


def build_features(
    kind: str, generalist: nn.Module | None = None, weights: str | None = None, seed: int = 0,
    layers: tuple[str, ...] | None = None,
) -> nn.Module:
    """φ by name. ``layers``: VGG19 layer names for ``vgg19`` (default conv1_2 … conv5_4)."""
    if kind == "random":
        return RandomConvFeatures(seed=seed)
    if kind == "generalist":
        if generalist is None:
            raise UserInputError("features 'generalist' needs a teacher (--teacher)")
        return GeneralistFeatures(generalist)
    if kind == "vgg19":
        if not weights:
            raise UserInputError("features 'vgg19' needs local weights: pass --feature-weights PATH")
        return VGG19Features(weights, tuple(layers)) if layers else VGG19Features(weights)
    raise UserInputError(f"unknown feature extractor {kind!r}: use random, generalist or vgg19")
