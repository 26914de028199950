"""The self-supervised augmentation recipes: every number in one place (:data:`RECIPES`).

Both pipelines read them: the torchvision (CPU, PIL) pipeline of :mod:`whitening_ssl.data.transforms`
and the batched on-device pipeline of :mod:`whitening_ssl.data.device.augment`. ``small`` is the
W-MSE / CW-RGP recipe for CIFAR, STL-10 and Tiny-ImageNet, ``imagenet`` CW-RGP's ImageNet recipe,
``wmse_imagenet100`` W-MSE's ImageNet-100 recipe, ``intl_*`` the INTL recipes (Weng et al., ICLR 2024),
whose views differ from one another (sources and a table: ``docs/data.md``). What a recipe is:
:mod:`whitening_ssl.data.recipe`.
"""

from __future__ import annotations

from whitening_ssl.data.recipe import AugmentationRecipe, ViewGroup
from whitening_ssl.data.recipe import View as View

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _intl(name: str, views: tuple[ViewGroup, ...], mean: tuple, std: tuple, **fields) -> AugmentationRecipe:
    """A recipe of the INTL authors' code (winci-ai/INTL): bicubic RandomResizedCrop first, ColorJitter(0.4,
    0.4, 0.2, 0.1) p 0.8, grayscale p 0.2, PIL's Gaussian blur, solarisation, flip; its own normalisation."""
    return AugmentationRecipe(
        name,
        crop_first=True,
        jitter_strength=(0.4, 0.4, 0.2, 0.1),
        jitter_p=0.8,
        grayscale_p=0.2,
        crop_scale=fields.pop("crop_scale", (0.08, 1.0)),
        crop_interpolation="bicubic",
        blur_filter="pil",
        views=views,
        mean=mean,
        std=std,
        **fields,
    )


_INTL_TWO_VIEWS = (ViewGroup(solarize_p=0.0), ViewGroup(solarize_p=0.2))
#: INTL's multi-crop: crops [2, 1, 1, 1, 1] of [224, 192, 160, 128, 96] px (src/transform.py, multicrop 3)
_INTL_MULTICROP = tuple(
    ViewGroup(count, size, scale)
    for count, size, scale in [
        (2, 224, (0.2, 1.0)),
        (1, 192, (0.171, 0.857)),
        (1, 160, (0.143, 0.714)),
        (1, 128, (0.114, 0.571)),
        (1, 96, (0.086, 0.429)),
    ]
)

_INTL_CIFAR_EVAL_MEAN, _INTL_CIFAR_EVAL_STD = (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)

#: ReSA's weak view x0 (Weng et al. 2025): RandomResizedCrop and flip only (the authors' weak view resizes
#: bilinearly, this recipe's crops all resize with the recipe's bicubic filter: a recipe has one filter)
WEAK_VIEW = ViewGroup(blur_p=0.0, solarize_p=0.0, jitter_p=0.0, grayscale_p=0.0)


def _resa(name: str, strong: tuple[ViewGroup, ...], mean: tuple, std: tuple, **fields) -> AugmentationRecipe:
    """A recipe of the ReSA authors' code (winci-ai/resa, resa_cifar): the weak view x0, then strong views of
    INTL's ops (bicubic crop scale 0.2-1 first, ColorJitter(0.4, 0.4, 0.2, 0.1) p 0.8, grayscale p 0.2, PIL's
    blur, solarisation, flip)."""
    return _intl(name, (WEAK_VIEW, *strong), mean, std, crop_scale=(0.2, 1.0), **fields)


RECIPES: dict[str, AugmentationRecipe] = {
    "small": AugmentationRecipe(
        "small",
        crop_first=False,
        jitter_strength=(0.4, 0.4, 0.4, 0.1),
        jitter_p=0.8,
        grayscale_p=0.1,
        crop_scale=(0.2, 1.0),
        crop_interpolation="bicubic",
    ),
    "imagenet": AugmentationRecipe(
        "imagenet",
        crop_first=True,
        jitter_strength=(0.4, 0.4, 0.4, 0.1),
        jitter_p=0.8,
        grayscale_p=0.2,
        crop_scale=(0.2, 1.0),
        crop_interpolation="bilinear",
        blur_p=0.5,
    ),
    "wmse_imagenet100": AugmentationRecipe(
        "wmse_imagenet100",
        crop_first=False,
        jitter_strength=(0.8, 0.8, 0.8, 0.2),
        jitter_p=0.8,
        grayscale_p=0.2,
        crop_scale=(0.08, 1.0),
        crop_interpolation="bicubic",
    ),
    # cifar/transform.py + cifar/cfg.py: 2 views of 32 px, no blur, solarisation [0.0, 0.2], each dataset's own
    # statistics; cifar/eval/dataloader.py evaluates both datasets with CIFAR-10's, its std rounded to 3 digits
    "intl_cifar10": _intl(
        "intl_cifar10",
        _INTL_TWO_VIEWS,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        eval_mean=_INTL_CIFAR_EVAL_MEAN,
        eval_std=_INTL_CIFAR_EVAL_STD,
    ),
    "intl_cifar100": _intl(
        "intl_cifar100",
        _INTL_TWO_VIEWS,
        (0.5071, 0.4865, 0.4409),
        (0.2673, 0.2564, 0.2762),
        eval_mean=_INTL_CIFAR_EVAL_MEAN,
        eval_std=_INTL_CIFAR_EVAL_STD,
    ),
    # src/transform.py + cfg.py defaults: 2 views of 224 px, blur [1.0, 0.1], solarisation [0.0, 0.2]
    "intl_imagenet": _intl(
        "intl_imagenet",
        (ViewGroup(blur_p=1.0, solarize_p=0.0), ViewGroup(blur_p=0.1, solarize_p=0.2)),
        IMAGENET_MEAN,
        IMAGENET_STD,
    ),
    "intl_imagenet_multicrop": _intl(
        "intl_imagenet_multicrop",
        _INTL_MULTICROP,
        IMAGENET_MEAN,
        IMAGENET_STD,
        crop_scale=(0.2, 1.0),
        blur_p=0.5,
        solarize_p=0.1,
    ),
    # ReSA (resa_cifar src/transform.py): weak view + 1 strong view of 32 px, no blur, solarisation 0.2
    "resa_cifar10": _resa(
        "resa_cifar10", (ViewGroup(solarize_p=0.2),), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    ),
    "resa_cifar100": _resa(
        "resa_cifar100", (ViewGroup(solarize_p=0.2),), (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
    ),
    # ReSA (resa src/transform.py): weak view + 1 strong view of 224 px, blur 0.5, solarisation 0.2
    "resa_imagenet": _resa("resa_imagenet", (ViewGroup(),), IMAGENET_MEAN, IMAGENET_STD, blur_p=0.5, solarize_p=0.2),
    # its multi-crop (scripts/train/vits16_multicrop.sh): + 6 views of 96 px, scale 0.05-0.2, no solarisation
    "resa_imagenet_multicrop": _resa(
        "resa_imagenet_multicrop",
        (ViewGroup(), ViewGroup(6, 96, (0.05, 0.2), solarize_p=0.0)),
        IMAGENET_MEAN,
        IMAGENET_STD,
        blur_p=0.5,
        solarize_p=0.2,
    ),
    # LeJEPA's recipe for the paper (rbalestr-lab/lejepa README): 2 global views of 224 px (scale 0.3-1) and 6
    # local ones of 98 px (0.05-0.3), crop first; the README names no interpolation or blur kernel: bilinear and
    # torchvision's kernel of 10% of the crop
    "lejepa_imagenet": AugmentationRecipe(
        "lejepa_imagenet",
        crop_first=True,
        jitter_strength=(0.4, 0.4, 0.2, 0.1),
        jitter_p=0.8,
        grayscale_p=0.2,
        crop_scale=(0.3, 1.0),
        crop_interpolation="bilinear",
        blur_p=0.5,
        solarize_p=0.2,
        views=(ViewGroup(2, 224), ViewGroup(6, 98, (0.05, 0.3))),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    ),
}


def register_recipe(recipe: AugmentationRecipe) -> AugmentationRecipe:
    """Add ``recipe`` to :data:`RECIPES` under its name (a name is registered once)."""
    if recipe.name in RECIPES:
        raise ValueError(f"augmentation recipe {recipe.name!r} is registered twice")
    RECIPES[recipe.name] = recipe
    return recipe


def get_recipe(name: str) -> AugmentationRecipe:
    """The recipe registered under ``name`` (one of :data:`RECIPES`)."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"Unknown augmentation recipe '{name}'; valid values: {', '.join(RECIPES)}") from None
