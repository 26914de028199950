"""The pre-run check of ``backbone.*``: a ResNet's stem, or a timm backbone's name, settings and image sizes.

The rules are the builders' own (:func:`~.timm_backbones.name_problem`, :func:`~.timm_backbones.size_problems`),
so a run is refused, one line each, before any folder is made with what the constructor would raise. Torch-free
to import: torch (and timm) are imported for a timm backbone's name and sizes, for published weights, and for
:func:`feature_dim`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from omegaconf import OmegaConf

from ..config_values import plain_dict
from .stems import LIBRARIES, STEMS, resolve_stem
from .timm_settings import POOLS, POS_EMBEDS, name_problem, size_problems

#: the settings of a ``library: timm`` backbone (``conf/backbone/_timm_recipe.yaml``), besides ``name`` and ``library``
TIMM_SETTINGS = ("img_size", "patch_size", "pool", "pos_embed", "drop_path_rate", "pretrained", "model_args")


def check_backbone(checks, backbone: Any, spec: Any | None = None, view_sizes: Iterable[int] = ()) -> None:
    """Record the problems of ``backbone.*`` in ``checks``; ``spec`` (the dataset's :class:`DatasetSpec`, when known)
    and ``view_sizes`` (the training views' crops) are the image sizes a ViT must take."""
    library = checks.choice(backbone, "library", "backbone.library", LIBRARIES, default="torchvision")
    if library != "timm":
        checks.choice(backbone, "stem", "backbone.stem", ("auto", *STEMS), default="auto")
        return
    name = checks.get(
        backbone,
        "name",
        "backbone.name",
        missing="backbone=timm needs backbone.name=<a timm architecture>, e.g. backbone.name=convnext_atto",
    )
    if name is None:
        return
    problem = name_problem(name)
    if problem:
        checks.add(problem)
        return
    if "stem" in backbone:
        checks.add(
            f"backbone.stem={backbone.get('stem')} is a ResNet setting: the timm backbone {name} has none; drop "
            "backbone.stem (a ViT's patch size is backbone.patch_size)"
        )
    # zero_init_residual (a method preset's ResNet setting, e.g. INTL's) has no residual BatchNorm to act on: ignored
    unknown = sorted(set(backbone) - {"name", "library", "stem", "zero_init_residual", *TIMM_SETTINGS})
    if unknown:
        checks.add(
            f"backbone.{unknown[0]} is not a setting of a timm backbone (its settings: {', '.join(TIMM_SETTINGS)})"
        )
    pool = checks.choice(backbone, "pool", "backbone.pool", POOLS)
    checks.choice(backbone, "pos_embed", "backbone.pos_embed", POS_EMBEDS)
    checks.number(backbone, "drop_path_rate", "backbone.drop_path_rate", minimum=0.0, below=1.0)
    pretrained = checks.boolean(backbone, "pretrained", "backbone.pretrained")
    model_args = checks.get(backbone, "model_args", "backbone.model_args", default=None) or {}
    if not isinstance(model_args, Mapping) or not all(
        isinstance(v, (int, float, str, bool, type(None))) for v in model_args.values()
    ):
        checks.add(f"backbone.model_args={model_args!r} must be a mapping of plain values, e.g. {{depth: 2}}")
        return
    settings = plain_dict(backbone) if OmegaConf.is_config(backbone) else dict(backbone)
    if spec is None:
        if pool == "token":
            checks.extend(size_problems(name, 1, [], pool))
        return
    try:
        settings = resolve_stem(settings, spec.stem, spec.image_size)
    except ValueError as error:
        checks.add(str(error))
        return
    sizes = [("the training crop", settings["img_size"])]
    sizes += [("a multi-crop view", size) for size in view_sizes if size != settings["img_size"]]
    sizes += [("the evaluation crop", spec.eval_center_crop)] if spec.eval_center_crop else []
    checks.extend(size_problems(name, settings["patch_size"], sizes, pool))
    if pretrained and not checks.problems and checks.check_machine:  # fetch (or find cached) the weights now
        from .backbones import build_backbone

        try:
            build_backbone(**settings)
        except ValueError as error:
            checks.add(str(error))


def view_sizes(located: Any | None, data: Any) -> tuple:
    """The crop sizes of the training views of a checked dataset (``located``) and ``data.num_views`` (none unknown)."""
    from ..data.recipes import get_recipe

    num_views = data.get("num_views") if data is not None else None
    if located is None or not isinstance(num_views, int) or isinstance(num_views, bool) or num_views < 1:
        return ()
    try:
        recipe = get_recipe(located.options.augmentation_recipe(located.spec))
        return tuple(sorted({view.crop_size for view in recipe.view_list(located.spec.image_size, num_views)}))
    except (ValueError, KeyError):  # the data checks name the problem
        return ()


def feature_dim(backbone: Any) -> int | None:
    """The backbone's feature size, from a build on the meta device (no memory, no time); ``None`` when it
    cannot be built (the backbone's own check says why). Imports torch: called only where a rule needs it."""
    import torch

    from .backbones import build_backbone

    try:
        settings = plain_dict(backbone)
        if settings.get("library") != "timm":  # a ResNet: its stem changes no feature size
            settings["stem"] = "small" if settings.get("stem", "auto") == "auto" else settings["stem"]
        with torch.device("meta"):
            return build_backbone(**settings)[1]
    except Exception:
        return None
