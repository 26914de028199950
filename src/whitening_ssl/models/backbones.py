"""Encoders: torchvision ResNets without ``fc``, with the stem of the dataset; timm models (``library: timm``).

``build_backbone`` returns a torchvision ResNet with ``fc`` removed (so its ``state_dict`` is a
torchvision ResNet's minus ``fc``), with the stem the papers use for the dataset: for small images a
3x3 stride-1 ``conv1`` without bias, without the max-pool for 32-px datasets. ``resnet_tiny`` is the same
architecture family scaled down (BasicBlocks, one per stage, configurable width) for CPU tests and
the quickstart. ``library: timm`` builds any timm architecture instead (:mod:`.timm_backbones`: ViTs
sized for the dataset, CNNs as timm has them), with timm's own settings and no stem.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from torch import nn
from torchvision import models
from torchvision.models.resnet import BasicBlock, ResNet

from .stems import LIBRARIES, STEMS
from .timm_backbones import build_timm_backbone


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


def _torchvision(constructor):
    def build(zero_init_residual: bool) -> ResNet:
        return constructor(weights=None, zero_init_residual=zero_init_residual)

    return build


def _tiny(zero_init_residual: bool, *, width: int) -> ResNet:
    """One BasicBlock per stage, stage widths ``width x (1, 2, 4, 8)``."""
    return _ScaledResNet([width, 2 * width, 4 * width, 8 * width], [1, 1, 1, 1], zero_init_residual)


#: name -> factory ``(zero_init_residual, *, <its own settings>)`` of a torchvision-layout ResNet (with ``fc``);
#: a factory's keyword-only parameters are the backbone's own settings (``backbone.width`` of ``resnet_tiny``)
BACKBONES = {
    "resnet18": _torchvision(models.resnet18),
    "resnet34": _torchvision(models.resnet34),
    "resnet50": _torchvision(models.resnet50),
    "resnet_tiny": _tiny,
}


def backbone_settings(name: str) -> tuple[str, ...]:
    """The own settings of backbone ``name`` (its factory's keyword-only parameters)."""
    parameters = inspect.signature(BACKBONES[name]).parameters.values()
    return tuple(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)


def build_backbone(
    name: str,
    stem: str | None = None,
    zero_init_residual: bool = True,
    library: str = "torchvision",
    **settings: Any,
) -> tuple[nn.Module, int]:
    """Encoder and its feature size.

    Args:
        name: a key of :data:`BACKBONES` (``resnet18 | resnet34 | resnet50 | resnet_tiny``), or with
            ``library="timm"`` any timm architecture (its settings: :func:`~.timm_backbones.build_timm_backbone`).
        stem: ``cifar`` (``conv1`` 3x3 stride 1 without bias, no max-pool: 32 px images), ``cifar_padded``
            (the same on the image padded with one pixel of zeros: the INTL authors' CIFAR model), ``small``
            (the same ``conv1`` with the max-pool: STL-10 and Tiny-ImageNet at 64 px, as the paper's
            code) or ``imagenet`` (torchvision's 7x7 stride-2 ``conv1`` and max-pool). ``backbone.stem:
            auto`` in the configuration picks the dataset's (``DatasetSpec.stem``) before this is called.
        zero_init_residual: zero the last BN of every residual branch, as the papers do
            (``+backbone.zero_init_residual=false`` on the command line: torchvision's initialisation).
        **settings: the backbone's own settings (``resnet_tiny``: ``width``, its first stage's width);
            anything else is refused.
        library: ``torchvision`` (this project's ResNets) or ``timm``.
    """
    if library == "timm":
        if stem is not None:
            raise ValueError(
                f"backbone.stem={stem} is a ResNet setting: a timm backbone ({name}) has none; drop "
                "backbone.stem (a ViT's patch size is backbone.patch_size)"
            )
        return build_timm_backbone(name, **settings)
    if library != "torchvision":
        raise ValueError(f"backbone.library={library!r} is not available: use one of {', '.join(LIBRARIES)}")
    if stem == "auto":
        raise ValueError(
            f"backbone.stem=auto is the dataset's stem: resolve it with resolve_stem(backbone, "
            f"dataset_stem) first, or give one of {', '.join(STEMS)}"
        )
    if stem not in STEMS:
        raise ValueError(f"backbone.stem={stem!r} is not available: use auto or one of {', '.join(STEMS)}")
    if name not in BACKBONES:
        raise ValueError(f"backbone.name={name!r} is not available: use one of {', '.join(BACKBONES)}")
    own = backbone_settings(name)
    unknown, missing = sorted(set(settings) - set(own)), sorted(set(own) - set(settings))
    if unknown or missing:
        problems = [f"backbone.{key} is not a setting of backbone={name}" for key in unknown]
        problems += [f"backbone={name} needs backbone.{key}" for key in missing]
        raise ValueError("; ".join(problems) + f" (its own settings: {', '.join(own) or 'none'})")
    model = BACKBONES[name](zero_init_residual, **settings)
    if STEMS[stem].small_conv1:
        model.conv1 = nn.Conv2d(
            3, model.conv1.out_channels, kernel_size=3, stride=1, padding=1 + STEMS[stem].pad, bias=False
        )
    if not STEMS[stem].maxpool:
        model.maxpool = nn.Identity()
    feature_dim = model.fc.in_features
    model.fc = nn.Identity()
    return model, feature_dim
