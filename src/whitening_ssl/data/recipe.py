"""What an augmentation recipe is: :class:`AugmentationRecipe`, its views (:class:`ViewGroup`, :class:`View`) and
the rules a recipe obeys (checked when it is made). The recipes themselves: :data:`~whitening_ssl.data.recipes.RECIPES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

INTERPOLATIONS = ("bilinear", "bicubic")
#: ``torchvision``: ``T.GaussianBlur`` (a kernel of ``blur_kernel_fraction`` of the crop); ``pil``: PIL's
#: ``ImageFilter.GaussianBlur(radius=sigma)``, three extended box passes per axis (``device/filters.py``)
BLUR_FILTERS = ("torchvision", "pil")
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
