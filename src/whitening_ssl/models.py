"""Encoders and projection heads (PAPER_NOTES section 3).

``build_backbone`` returns a torchvision ResNet with ``fc`` removed (so its ``state_dict`` is a
torchvision ResNet's minus ``fc``), optionally with the small-dataset stem: a 3x3 stride-1
``conv1`` without bias, and no max-pool for 32-px datasets. ``resnet_tiny`` is the same
architecture family scaled down (BasicBlocks, one per stage, configurable width) for CPU tests and
the quickstart.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import nn
from torchvision import models
from torchvision.models.resnet import BasicBlock, ResNet

BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet_tiny")


class _ScaledResNet(ResNet):
    """torchvision ``ResNet`` with configurable stage widths (``ResNet`` hard-codes 64..512)."""

    def __init__(self, widths: Sequence[int], layers: Sequence[int], zero_init_residual: bool = True) -> None:
        super().__init__(BasicBlock, list(layers), zero_init_residual=False)
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.layer1 = self._make_layer(BasicBlock, widths[0], layers[0])
        self.layer2 = self._make_layer(BasicBlock, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(BasicBlock, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(BasicBlock, widths[3], layers[3], stride=2)
        self.fc = nn.Linear(widths[3], 1000)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, BasicBlock):
                    nn.init.zeros_(module.bn2.weight)


def build_backbone(
    name: str = "resnet18",
    small_stem: bool = True,
    remove_maxpool: bool = False,
    zero_init_residual: bool = True,
    width: int = 16,
    **_: object,
) -> Tuple[nn.Module, int]:
    """Encoder and its feature size.

    Args:
        name: ``resnet18 | resnet34 | resnet50 | resnet_tiny``.
        small_stem: replace ``conv1`` by a 3x3, stride 1, padding 1 conv without bias (small images).
        remove_maxpool: drop the stem max-pool (CIFAR-size images only).
        zero_init_residual: zero the last BN of every residual branch, as the papers do.
        width: first-stage width of ``resnet_tiny`` (stages are width x 1, 2, 4, 8).
    """
    if name == "resnet_tiny":
        model: ResNet = _ScaledResNet([width, 2 * width, 4 * width, 8 * width], [1, 1, 1, 1], zero_init_residual)
    elif name in BACKBONES:
        model = getattr(models, name)(weights=None, zero_init_residual=zero_init_residual)
    else:
        raise ValueError(f"unknown backbone {name!r}: use one of {', '.join(BACKBONES)}")
    if small_stem:
        model.conv1 = nn.Conv2d(3, model.conv1.out_channels, kernel_size=3, stride=1, padding=1, bias=False)
    if remove_maxpool:
        model.maxpool = nn.Identity()
    feature_dim = model.fc.in_features
    model.fc = nn.Identity()
    return model, feature_dim


def projection_head(in_dim: int, emb: int, hidden: int = 1024, layers: int = 2, batch_norm: bool = True) -> nn.Sequential:
    """``(layers - 1) x [Linear(hidden), BatchNorm1d, ReLU]`` then ``Linear(emb)``; ``layers=0``: identity."""
    if layers == 0:
        return nn.Sequential()
    blocks = []
    size = in_dim
    for _ in range(layers - 1):
        blocks.append(nn.Linear(size, hidden))
        if batch_norm:
            blocks.append(nn.BatchNorm1d(hidden))
        blocks.append(nn.ReLU(inplace=True))
        size = hidden
    blocks.append(nn.Linear(size, emb))
    return nn.Sequential(*blocks)


@torch.no_grad()
def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
