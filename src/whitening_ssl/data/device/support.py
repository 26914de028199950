"""What the device pipeline can make, torch-free (the pre-run check asks it without importing torch).

:func:`unsupported_ops` lists what of a recipe the batched ops (:mod:`whitening_ssl.data.device.ops`,
:mod:`~whitening_ssl.data.device.filters`) lack; :func:`device_pipeline_problem` is the one rule for
whether ``data.pipeline=device`` makes the CPU pipeline's views of a dataset and recipe.
"""

from __future__ import annotations

import dataclasses

from whitening_ssl.data.entry import DatasetEntry
from whitening_ssl.data.recipes import AugmentationRecipe, get_recipe

USE_CPU = "use data.pipeline=cpu"
#: the resampling filters of :data:`~whitening_ssl.data.device.ops.RESAMPLING_FILTERS` (a test keeps them equal)
DEVICE_INTERPOLATIONS = ("bilinear", "bicubic")
#: the blurs of :data:`~whitening_ssl.data.device.filters.BLURS` (a test keeps them equal)
DEVICE_BLURS = ("torchvision", "pil")

#: the recipe fields (ops and their parameters) that the device pipeline implements
DEVICE_RECIPE_FIELDS = frozenset(
    {
        "name",
        "crop_first",
        "jitter_strength",
        "jitter_p",
        "grayscale_p",
        "crop_scale",
        "crop_interpolation",
        "crop_ratio",
        "blur_p",
        "blur_sigma",
        "blur_kernel_fraction",
        "flip_p",
        "solarize_p",
        "blur_filter",
        "views",
        "mean",
        "std",
        "eval_mean",
        "eval_std",  # the evaluation's statistics: CPU transforms, never a view
    }
)


def unsupported_ops(recipe: AugmentationRecipe, crop_size: int) -> list[str]:
    """What of ``recipe`` this module cannot make at ``crop_size`` (empty: everything): a field outside
    :data:`DEVICE_RECIPE_FIELDS` switched on (a new op's probability), a resampling filter outside
    :data:`DEVICE_INTERPOLATIONS` or blur outside :data:`DEVICE_BLURS`, a
    torchvision blur whose reflect padding (k // 2) reaches across a view's crop."""
    problems = [
        f"recipe {recipe.name} sets {field.name}={getattr(recipe, field.name)!r}, an op the device "
        "pipeline does not have"
        for field in dataclasses.fields(recipe)
        if field.name not in DEVICE_RECIPE_FIELDS and getattr(recipe, field.name)
    ]
    if recipe.crop_interpolation not in DEVICE_INTERPOLATIONS:
        problems.append(
            f"recipe {recipe.name} resizes with {recipe.crop_interpolation!r}; the device pipeline has "
            f"{', '.join(DEVICE_INTERPOLATIONS)}"
        )
    if recipe.has_blur and recipe.blur_filter not in DEVICE_BLURS:
        problems.append(
            f"recipe {recipe.name} blurs with {recipe.blur_filter!r}; the device pipeline has {', '.join(DEVICE_BLURS)}"
        )
    elif recipe.has_blur and recipe.blur_filter == "torchvision":  # PIL's blur repeats the edge: any size will do
        views = recipe.view_list(crop_size, recipe.fixed_views or 1)
        problems += [
            f"crop_size {size} is too small for a {recipe.blur_kernel_size(size)}-tap blur; use at least 3 px"
            for size in sorted({view.crop_size for view in views if view.blur_p > 0})
            if recipe.blur_kernel_size(size) // 2 >= size
        ]
    return problems


def device_pipeline_problem(entry: DatasetEntry, recipe: AugmentationRecipe | str, crop_size: int) -> str | None:
    """Why ``data.pipeline=device`` would not make the CPU pipeline's views of ``entry`` with ``recipe``
    at ``crop_size`` (``None``: it makes them, same distributions, shapes, dtype and normalisation).

    Two reasons: an op of the recipe the device lacks (:func:`unsupported_ops`),
    and a jitter-first recipe on image files (not ``entry.in_memory``): workers crop, so the colour ops
    would act on the resized crop instead of the full image (the contrast's mean luma differs, and
    per-pixel ops do not commute with the resampling). A crop-first recipe is the same pipeline either way,
    its views of several sizes included (workers crop each view to its size).
    """
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    problems = unsupported_ops(recipe, crop_size)
    if not entry.in_memory and not recipe.crop_first:
        problems.append(
            f"its image files are cropped in DataLoader workers and recipe {recipe.name} jitters the "
            "full image before cropping (a crop-first recipe would do: dataset.options.augmentation="
            "imagenet)"
        )
    if not problems:
        return None
    return f"cannot make the CPU pipeline's views of dataset={entry.name} with recipe {recipe.name}: " + "; ".join(
        problems
    )


def device_pipeline_error(problem: str) -> str:
    """The one line an explicit ``data.pipeline=device`` gets for a :func:`device_pipeline_problem`."""
    return f"data.pipeline=device {problem}; {USE_CPU} (data.pipeline=auto picks it here)"
