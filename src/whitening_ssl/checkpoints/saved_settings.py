"""A checkpoint's saved settings are data, not code.

This project's checkpoints store the configuration their model was built from. Rebuilding from it
chooses among the project's registries by name only (methods, losses, whitening kinds, backbones,
datasets: an unknown name is refused by its registry); a ``_target_`` (a dotted path that Hydra would
import and call) is accepted only for the project's registered losses, or when the user gives the
same target for the same setting in this run's own configuration or on its command line. Values that become names (the
method name in ``results.json`` and the logger's run name) are sanitised by :func:`safe_name`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from ..validation import shown
from .reading import CheckpointError

#: a settings mapping, returned as the type it was given
SettingsT = TypeVar("SettingsT", bound=Mapping[str, Any])


#: settings whose value may name code of the user's own as ``module.attribute`` (see :mod:`whitening_ssl.plugins`)
CODE_SETTINGS = (
    "method.whiten",
    "method.family",
    "method.loss.name",
    "model.method.whiten",
    "model.method.family",
    "model.method.loss.name",
)


def _targets(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted key, code path)`` for every ``_target_`` in a nested mapping/list, and every setting of
    :data:`CODE_SETTINGS` (``method.whiten``, ``method.family``, ``method.loss.name``) whose value names a module."""
    from ..plugins import is_import_path

    if isinstance(node, Mapping):
        for key, value in node.items():
            dotted = f"{path}.{key}" if path else str(key)
            if key == "_target_":
                yield path, value
            elif dotted in CODE_SETTINGS and is_import_path(value):
                yield dotted, value
            else:
                yield from _targets(value, dotted)
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _targets(value, f"{path}.{index}")


def _setting(key: str) -> str:
    """The configuration key a ``_target_`` or code setting is known by, wherever the settings sit (a pretraining
    checkpoint's ``method.*``; ``model.method.*`` in one saved with its model node)."""
    key = key[len("model.") :] if key.startswith("model.") else key
    return key[: -len("._target_")] if key.endswith("._target_") else key


def trusted_targets(config: Any, overrides: Iterable[str] = ()) -> set[tuple[str, str]]:
    """The ``(setting, target)`` pairs the user named: every ``_target_`` and code setting of this run's own
    configuration (its presets and command line) and of the job's command-line overrides, each with its key.
    A value trusts only the setting it is given for: ``+tag=builtins.open`` trusts no ``_target_``."""
    trusted = {(_setting(key), str(target)) for key, target in _targets(config)}
    for override in overrides:
        key, equals, value = override.lstrip("+~").partition("=")
        if equals:
            trusted.add((_setting(key), value.strip("'\"")))
    return trusted


def foreign_targets(settings: Mapping[str, Any], trusted: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """The ``(key, target)`` pairs of ``settings`` that are neither registered losses nor ``trusted`` (the same
    target given for the same setting)."""
    from ..losses import registered_loss

    trusted = set(trusted)
    return [
        (key, str(target))
        for key, target in _targets(settings)
        if registered_loss(target) is None and (_setting(key), str(target)) not in trusted
    ]


def check_saved_settings(settings: Mapping[str, Any], source: str, trusted: Iterable[tuple[str, str]] = ()) -> None:
    """Refuse (one line) saved ``settings`` that name a foreign ``_target_``; see the module."""
    foreign = foreign_targets(settings, trusted)
    if foreign:
        from ..losses import LOSSES

        key, target = foreign[0]
        setting = key if key in CODE_SETTINGS else f"{key}._target_"
        raise CheckpointError(
            f"{source} names {shown(target)} as {shown(setting)} in its saved settings: rebuilding its model "
            f"would import and call it, and a checkpoint may only name this project's own code (losses: "
            f"{', '.join(LOSSES)}; whitening kinds and methods by their registered names), so it was not built; if "
            f"you trust it, give the same on the command line: {'' if key in CODE_SETTINGS else '+'}"
            f"{shown(setting)}={shown(target)}"
        )


def check_saved_backbone(hparams: Mapping[str, Any], source: str) -> None:
    """The backbone a pretraining checkpoint's settings name is one of this project's."""
    from ..models import BACKBONES

    backbone = hparams.get("backbone")
    name = backbone.get("name") if isinstance(backbone, Mapping) else backbone
    if isinstance(backbone, Mapping) and backbone.get("library") == "timm":  # a timm architecture, plain settings
        from ..models.backbone_checks import check_backbone
        from ..validation import Checks

        checks = Checks(check_machine=False)
        check_backbone(checks, backbone)
        if checks.problems:
            raise CheckpointError(f"{source} has saved backbone settings that cannot be rebuilt: {checks.problems[0]}")
        return
    if name not in BACKBONES:
        raise CheckpointError(
            f"{source} has saved settings with backbone.name={shown(name)!r}, which is not one of "
            f"this project's backbones ({', '.join(BACKBONES)}): it cannot be rebuilt"
        )


def check_saved_dataset(dataset: SettingsT, source: str) -> SettingsT:
    """``dataset``, the dataset settings saved in ``source``, when they name one of this project's datasets."""
    from ..data import DATASETS

    if dataset.get("name") not in DATASETS:
        raise CheckpointError(
            f"{source} names dataset {shown(dataset.get('name'))!r} in its saved settings, which is "
            "not one of this project's datasets: give dataset_from_ckpt=false and dataset="
        )
    return dataset
