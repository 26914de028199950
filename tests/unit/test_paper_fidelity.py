"""The paper presets against the authors' code: the stem, the zero-initialised residual BatchNorms, the
linear step's weight decay and the evaluation's normalisation, each assertion naming the authors' value
and the file it is in (winci-ai/INTL at its last version, winci-ai/CW-RGP, W-MSE's htdt/self-supervised).
Models are built, never run beyond ``conv1``; BatchNorms are counted on the built module."""

from functools import cache
from pathlib import Path

import pytest
import torch
from helpers import CONF, compose_config
from omegaconf import OmegaConf
from torchvision.models.resnet import BasicBlock, Bottleneck

from whitening_ssl.data.lookup import get_spec
from whitening_ssl.models import build_backbone, resolve_stem

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
INTL_CIFAR_EVAL = ((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))


@cache
def _preset(name):
    return compose_config([f"experiment={name}", "dataset.root=/data/images", "ckpt=encoder.ckpt"])


@cache
def _backbone(name, stem, zero_init_residual):
    return build_backbone(name, stem, zero_init_residual)[0]


def _built(cfg, dataset_stem):
    backbone = resolve_stem(OmegaConf.to_container(cfg.backbone, resolve=True), dataset_stem)
    return _backbone(backbone["name"], backbone["stem"], backbone.get("zero_init_residual", True))


def _presets(keep, resnets_only=False):
    """Every paper preset (conf/experiment/paper*/) for which ``keep(dataset, stage)`` holds, read from its file
    (its ``override /dataset`` and ``stage``) so that only the presets tested are composed; ``resnets_only``: not
    the ViT presets (no residual BatchNorm to count)."""
    names = []
    for path in sorted(CONF.glob("experiment/paper*/*.yaml")):
        preset = OmegaConf.load(path)
        defaults = {key: value for entry in preset.get("defaults", []) for key, value in entry.items()}
        if resnets_only and not str(defaults.get("override /backbone", "resnet")).startswith("resnet"):
            continue
        if keep(defaults.get("override /dataset"), preset.get("stage", "pretrain")):
            names.append(f"{path.parent.name}/{path.stem}")
    return names


def _zeroed(model):
    """(zero-initialised last BatchNorms of the residual branches, residual blocks) of a built ResNet."""
    last_norms = [
        block.bn3 if isinstance(block, Bottleneck) else block.bn2
        for block in model.modules()
        if isinstance(block, (BasicBlock, Bottleneck))
    ]
    return sum(bool((norm.weight == 0).all()) for norm in last_norms), len(last_norms)


INTL_MODEL = (
    "winci-ai/INTL src/resnet.py pads every image by 1 before conv1, src/model.py's 3x3 conv1 and zero_init False"
)
CW_RGP_MODEL = "winci-ai/CW-RGP base/model.py: torchvision's ResNet, 3x3 conv1, zero_init_residual=True"
W_MSE_MODEL = "htdt/self-supervised model.py: torchvision's ResNet, 3x3 conv1, no zero_init_residual"


@pytest.mark.parametrize(
    "preset,size,zeroed,source",
    [
        ("paper_intl/cifar10", 34, 0, INTL_MODEL),
        ("paper_intl/cifar100", 34, 0, INTL_MODEL),
        ("paper/cifar10_cw_rgp4", 32, 8, CW_RGP_MODEL),
        ("paper/cifar10_w_mse4", 32, 0, W_MSE_MODEL),
    ],
)
def test_the_cifar_presets_build_the_authors_resnet18(preset, size, zeroed, source):
    model = _built(_preset(preset), "cifar")
    assert model.maxpool.__class__.__name__ == "Identity"
    with torch.no_grad():
        out = tuple(model.conv1(torch.zeros(1, 3, 32, 32)).shape[-2:])
    if size == 34:  # the authors' forward: nn.ConstantPad2d(1, 0.0), then the 3x3 conv1 with padding 1
        x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        reference = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 1, 1)), model.conv1.weight, padding=1)
        torch.testing.assert_close(model.conv1(x), reference, rtol=0, atol=1e-6)
    got = (out, _zeroed(model)[0])
    assert got == ((size, size), zeroed), (
        f"{preset}: conv1 gives {out} on 32 px, {got[1]} residual BatchNorms "
        f"zero-initialised; the authors' {size}x{size} and {zeroed} ({source})"
    )


#: preset -> (zero-initialised residual BatchNorms of the authors' model, where the authors set it)
ZERO_INIT = {
    **{
        f"paper_intl/{name}": (0, "winci-ai/INTL src/model.py: zero_init False for every arch")
        for name in (
            "imagenet100",
            "imagenet_800ep",
            "imagenet_multicrop_100ep",
            "imagenet_multicrop_200ep",
            "imagenet_multicrop_400ep",
            "imagenet_multicrop_800ep",
        )
    },
    **{
        f"paper/imagenet_cw_rgp4_{epochs}": (
            16,
            "winci-ai/CW-RGP ImageNet/model.py: torchvision resnet50(zero_init_residual=True), 16 Bottlenecks",
        )
        for epochs in ("100ep", "200ep")
    },
    **{
        f"paper_resa/imagenet_{epochs}": (
            16,
            "winci-ai/resa src/model.py: torchvision resnet50(zero_init_residual=True), 16 Bottlenecks",
        )
        for epochs in ("100ep", "200ep", "800ep")
    },
    "paper_lejepa/imagenet_resnet50": (
        16,
        "rbalestr-lab/lejepa builds its backbones with timm, whose resnet50 zero-initialises each block's last "
        "BatchNorm by default (zero_init_last=True)",
    ),
}


def test_each_imagenet_preset_zero_initialises_the_authors_residual_batchnorms():
    presets = _presets(
        lambda dataset, stage: dataset in ("imagenet", "imagenet100") and stage == "pretrain", resnets_only=True
    )
    assert sorted(ZERO_INIT) == presets, "every ImageNet pretraining preset needs the authors' count here"
    for preset in presets:
        zeroed, blocks = _zeroed(_built(_preset(preset), "imagenet"))
        expected, source = ZERO_INIT[preset]
        assert zeroed == expected, (
            f"{preset}: {zeroed} of {blocks} residual BatchNorms zero-initialised; the authors' {expected} ({source})"
        )


#: linear preset -> (weight decay, evaluation (mean, std), where the authors set them)
LINEAR = {
    "paper/imagenet_linear": (
        0.0,
        IMAGENET,
        "winci-ai/CW-RGP ImageNet/cfg.py --wd_eval default 0, ImageNet.sh "
        "passes none; ImageNet/lincls.py normalises with ImageNet's statistics",
    ),
    "paper_intl/imagenet_linear": (
        1e-5,
        IMAGENET,
        "winci-ai/INTL evaluate.py: SGD weight_decay=cfg.weight_decay, "
        "cfg.py --wd default 1e-5, scripts/ep800.sh passes none; "
        "evaluate.py normalises with ImageNet's statistics",
    ),
    "paper_intl/imagenet_multicrop_linear": (
        1e-5,
        IMAGENET,
        "winci-ai/INTL evaluate.py + cfg.py --wd default 1e-5; scripts/ep100/200/400_multi-crop_ema.sh pass none",
    ),
    "paper_resa/imagenet_linear": (
        0.0,
        IMAGENET,
        "winci-ai/resa eval_linear.py: SGD momentum 0.9, weight_decay 0; ImageNet's statistics",
    ),
    "paper_intl/imagenet100_linear": (
        1e-5,
        IMAGENET,
        "winci-ai/INTL evaluate.py + cfg.py --wd default 1e-5; scripts/in100.sh's evaluate.py line passes none",
    ),
}


def test_each_linear_preset_holds_the_authors_weight_decay_and_evaluation_statistics(tmp_path):
    (tmp_path / "train" / "n01440764").mkdir(parents=True)  # ImageNet's classes are its train folders
    presets = _presets(lambda dataset, stage: stage == "linear")
    assert sorted(LINEAR) == presets, "every linear preset needs the authors' values here"
    for preset in presets:
        cfg = _preset(preset)
        weight_decay, statistics, source = LINEAR[preset]
        spec = get_spec(cfg.dataset.name, tmp_path, **OmegaConf.to_container(cfg.dataset.options))
        got = (cfg.linear.weight_decay, spec.eval_normalisation)
        assert got == (weight_decay, statistics), (
            f"{preset}: weight decay and (mean, std) {got}; the authors' {(weight_decay, statistics)} ({source})"
        )


@pytest.mark.parametrize(
    "preset,views",
    [
        ("paper_intl/cifar10", ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))),
        ("paper_intl/cifar100", ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))),
    ],
)
def test_the_intl_cifar_presets_evaluate_with_cifar10s_statistics(preset, views):
    cfg = _preset(preset)
    spec = get_spec(cfg.dataset.name, Path("/data/images"), **OmegaConf.to_container(cfg.dataset.options))
    assert spec.eval_normalisation == INTL_CIFAR_EVAL, (
        f"{preset}: evaluation (mean, std) {spec.eval_normalisation}; the authors' {INTL_CIFAR_EVAL} for both "
        "CIFAR-10 and CIFAR-100 (winci-ai/INTL cifar/eval/dataloader.py, CIFAR10_clf and CIFAR100_clf)"
    )
    assert (spec.mean, spec.std) == views, (
        f"{preset}: the views' (mean, std) {(spec.mean, spec.std)}; the authors' {views} "
        "(winci-ai/INTL cifar/transform.py)"
    )
