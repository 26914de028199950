"""The self-supervised augmentation recipes: every number in one place (:data:`RECIPES`).

Both pipelines read them: the torchvision (CPU, PIL) pipeline of :mod:`whitening_ssl.data.transforms`
and the batched on-device pipeline of :mod:`whitening_ssl.data.device.augment`. ``small`` is the
W-MSE / CW-RGP recipe for CIFAR, STL-10 and Tiny-ImageNet, ``imagenet`` CW-RGP's ImageNet recipe,
``wmse_imagenet100`` W-MSE's ImageNet-100 recipe, ``intl_*`` the INTL recipes (Weng et al., ICLR 2024),
whose views differ from one another (sources and a table: ``docs/data.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

INTERPOLATIONS = ("bilinear", "bicubic")
#: ``torchvision``: ``T.GaussianBlur`` (a kernel of ``blur_kernel_fraction`` of the crop); ``pil``: PIL's
#: ``ImageFilter.GaussianBlur(radius=sigma)``, three extended box passes per axis (``device/filters.py``)
BLUR_FILTERS = ("torchvision", "pil")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: the op probabilities a view may set for itself (:class:`ViewGroup`), in :class:`View`'s order
PER_VIEW_PROBABILITIES = ("blur_p", "solarize_p", "jitter_p", "grayscale_p")


@dataclass(frozen=True)
class ViewGroup:
    """``count`` alike views of a recipe with ``views``; ``crop_size`` None: the dataset's training crop; the
    other fields None: the recipe's own value (:func:`weak_view`: a view of crop and flip only)."""

    count: int = 1
    crop_size: int | None = None
    crop_scale: tuple[float, float] | None = None
    blur_p: float | None = None
    solarize_p: float | None = None
    jitter_p: float | None = None
    grayscale_p: float | None = None


class View(NamedTuple):
    """One view, resolved: what may differ between the views of a recipe."""

    crop_size: int
    crop_scale: tuple[float, float]
    blur_p: float
    solarize_p: float
    jitter_p: float
    grayscale_p: float


@dataclass(frozen=True)
class AugmentationRecipe:
    """Parameters of one multi-view augmentation recipe.

    Op order (``crop_first`` False, the small-dataset order): RandomApply(ColorJitter, ``jitter_p``);
    RandomGrayscale(``grayscale_p``); RandomResizedCrop; RandomApply(GaussianBlur, ``blur_p``; absent
    when 0); RandomApply(Solarize, ``solarize_p``; absent when 0); RandomHorizontalFlip(``flip_p``); with
    ``crop_first`` the crop moves to the front. Normalisation ends it: ``mean`` / ``std`` when the recipe
    has its own (applied to the dataset's spec), else the dataset's. ``eval_mean`` / ``eval_std`` normalise
    every evaluation transform of the run (k-NN, linear probes); None: the same as the views.
    ``jitter_strength`` (brightness, contrast, saturation, hue) = s: factors ~ U[max(0, 1 - s), 1 + s],
    hue ~ U[-h, h], in a random order per image. ``crop_scale`` bounds the crop's area fraction,
    ``crop_ratio`` its width / height (drawn log-uniformly). ``blur_filter``: :data:`BLUR_FILTERS`; the
    torchvision kernel is the odd size nearest above ``blur_kernel_fraction`` of the crop, at least 3 (23
    for 224 px). Solarisation inverts the pixels >= 128 of 255 (PIL's ``ImageOps.solarize``).
    ``views``: empty, every view alike and ``data.num_views`` of them; else :class:`ViewGroup` s in view
    order, which fix the number of views (per-view crop size, scale, blur and solarisation).
    """

    name: str
    crop_first: bool
    jitter_strength: tuple[float, float, float, float]
    jitter_p: float
    grayscale_p: float
    crop_scale: tuple[float, float]
    crop_interpolation: str
    crop_ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_kernel_fraction: float = 0.1
    flip_p: float = 0.5
    solarize_p: float = 0.0
    blur_filter: str = "torchvision"
    views: tuple[ViewGroup, ...] = ()
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    eval_mean: tuple[float, float, float] | None = None
    eval_std: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        fields = ("jitter_p", "grayscale_p", "blur_p", "flip_p", "solarize_p")
        probabilities = {field: getattr(self, field) for field in fields}
        ranges = {field: getattr(self, field) for field in ("crop_scale", "crop_ratio", "blur_sigma")}
        for k, group in enumerate(self.views):
            probabilities.update(
                {
                    f"views[{k}].{field}": getattr(group, field)
                    for field in PER_VIEW_PROBABILITIES
                    if getattr(group, field) is not None
                }
            )
            if group.crop_scale is not None:
                ranges[f"views[{k}].crop_scale"] = group.crop_scale
        problems = [
            f"{field} must be a probability in [0, 1], got {value}"
            for field, value in probabilities.items()
            if not 0.0 <= value <= 1.0
        ]
        if len(self.jitter_strength) != 4 or min(self.jitter_strength) < 0:
            problems.append(
                "jitter_strength must be 4 non-negative numbers (brightness, contrast, saturation, hue), "
                f"got {self.jitter_strength}"
            )
        elif self.jitter_strength[3] > 0.5:
            problems.append(f"hue strength must be <= 0.5, got {self.jitter_strength[3]}")
        problems += [
            f"{field} must be (low, high) with 0 < low <= high, got {tuple(value)}"
            for field, value in ranges.items()
            if not 0 < value[0] <= value[1]
        ]
        if self.crop_interpolation not in INTERPOLATIONS:
            problems.append(f"crop_interpolation '{self.crop_interpolation}' is not one of {', '.join(INTERPOLATIONS)}")
        if self.blur_filter not in BLUR_FILTERS:
            problems.append(f"blur_filter '{self.blur_filter}' is not one of {', '.join(BLUR_FILTERS)}")
        problems += [
            f"views[{k}] needs a whole count >= 1 and a crop_size >= 1 or None, got count={group.count}, "
            f"crop_size={group.crop_size}"
            for k, group in enumerate(self.views)
            if not (isinstance(group.count, int) and group.count >= 1)
            or not (group.crop_size is None or (isinstance(group.crop_size, int) and group.crop_size >= 1))
        ]
        for prefix, mean, std in (("", self.mean, self.std), ("eval_", self.eval_mean, self.eval_std)):
            if (mean is None) != (std is None) or (
                mean is not None and std is not None and (len(mean) != 3 or len(std) != 3 or min(std) <= 0)
            ):
                problems.append(
                    f"{prefix}mean and {prefix}std must be both None or 3 values each (std > 0), got {mean}, {std}"
                )
        if problems:
            raise ValueError(f"Recipe '{self.name}': " + "; ".join(problems))

    @property
    def fixed_views(self) -> int | None:
        """The number of views ``views`` fixes (None: any, ``data.num_views``)."""
        return sum(group.count for group in self.views) if self.views else None

    def per_group(self, field: str) -> list:
        """``field`` (a field of :class:`ViewGroup`) of each group, the recipe's value where a group has None
        (one value, the recipe's, without ``views``)."""
        own = getattr(self, field)
        return [own if getattr(group, field) is None else getattr(group, field) for group in self.views] or [own]

    has_blur = property(lambda self: any(p > 0 for p in self.per_group("blur_p")))
    has_solarize = property(lambda self: any(p > 0 for p in self.per_group("solarize_p")))

    def default_view(self, crop_size: int) -> View:
        """A view with the recipe's own values, of ``crop_size``."""
        return View(crop_size, self.crop_scale, *(getattr(self, field) for field in PER_VIEW_PROBABILITIES))

    def view_list(self, crop_size: int, num_views: int) -> tuple[View, ...]:
        """The first ``num_views`` views, resolved (``crop_size``: the dataset's training crop); a recipe
        with ``views`` has no more than it fixes (the pretraining asks for all: :meth:`views_problem`)."""
        if not self.views:
            return (self.default_view(crop_size),) * num_views
        if self.fixed_views is not None and num_views > self.fixed_views:
            raise ValueError(self.views_problem(num_views))
        groups = zip(self.views, self.per_group("crop_scale"), *(self.per_group(f) for f in PER_VIEW_PROBABILITIES))
        return tuple(
            View(group.crop_size or crop_size, scale, *probabilities)
            for group, scale, *probabilities in groups
            for _ in range(group.count)
        )[:num_views]

    def views_problem(self, num_views: int) -> str | None:
        """Why pretraining cannot take ``num_views`` views of this recipe (one line), or None."""
        if self.fixed_views is None or num_views == self.fixed_views:
            return None
        sizes = [str(group.crop_size or "the dataset's") for group in self.views for _ in range(group.count)]
        shown = f" ({', '.join(sizes)} px)" if any(group.crop_size for group in self.views) else ""
        return (
            f"data.num_views={num_views}, but recipe {self.name} makes {self.fixed_views} views{shown}: set "
            f"data.num_views={self.fixed_views}"
        )

    def jitter_ranges(self) -> tuple[tuple[float, float], ...]:
        """Sampling ranges of the brightness, contrast, saturation and hue factors (torchvision's ColorJitter)."""
        brightness, contrast, saturation, hue = self.jitter_strength
        return (*((max(0.0, 1.0 - s), 1.0 + s) for s in (brightness, contrast, saturation)), (-hue, hue))

    def blur_kernel_size(self, crop_size: int) -> int:
        """Odd Gaussian-blur kernel of about ``blur_kernel_fraction`` of the crop, at least 3."""
        size = max(3, int(self.blur_kernel_fraction * crop_size))
        return size if size % 2 == 1 else size + 1


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
