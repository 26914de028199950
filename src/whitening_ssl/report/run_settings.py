"""The settings of a run as flattened keys, and which of them differ between runs (the table's columns).

Settings: a run's ``config`` (its resolved Hydra configuration) flattened into dotted keys
(``method.whiten``, ``trainer.precision``; lists as JSON), less the bookkeeping keys of
:data:`IGNORED_SETTINGS`. A linear / k-NN run's pretraining settings are those of the pretraining run
it evaluated (``pretrain_config``); its own ``linear.*`` / ``knn.*`` are the settings of its figure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

MISSING = "–"  # en dash

#: Flattened keys (``fnmatch`` patterns; ``X.*`` also matches ``X`` itself) that do not change a run's
#: result: seeds (averaged over), paths, logging, worker counts and evaluation schedules. The
#: ``data.*`` / ``model.dataset.*`` entries are config.yaml's interpolated copies of ``dataset.*``.
IGNORED_SETTINGS = (
    "seed",
    "eval.seed",
    "run_dir",
    "ckpt_path",
    "ckpt",
    "experiment_name",
    "stage",
    "logger.*",
    "hydra.*",
    "checkpoint_every*",
    "dataset.root",
    "dataset.download",
    "data.root",
    "data.download",
    "model.dataset.root",
    "model.dataset.download",
    "*num_workers",
    "*eval_batch_size",
    "trainer.enable_progress_bar",
    "trainer.log_every_n_steps",
    "trainer.default_root_dir",
    "eval.every_n_epochs*",
    "eval.enabled",
    "eval.evaluate_untrained",
    "analysis.*",
    "model.analysis.*",
    "overrides",
    "channels_last",
    "compile",
    "data.verify_images",
    "data.on_bad_image",
    "matmul_precision",
)
#: Also ignored in a pretraining configuration: what only the evaluation stages read.
PRETRAIN_IGNORED_SETTINGS = ("linear.*", "knn.*", "export.*", "dataset_from_ckpt")
#: Evaluation stages whose own section (``linear.*``, ``knn.*``) is a setting of their figure.
EVAL_STAGES = ("linear", "knn")
#: Sections config.yaml fills by interpolation (``model.method: ${method}``, ``model.num_views:
#: ${data.num_views}``): when a copy varies exactly like another key, the column is the other key.
COPY_SECTIONS = ("model", "data")

PRETRAIN_SCOPE = "pretrain"
# A setting's value as compared and sorted: (0, number) | (1, text); ABSENT sorts after both.
SettingValue = tuple[int, int | float | str]
ABSENT: SettingValue = (2, "")
Settings = tuple[dict[str, SettingValue], frozenset[str]]  # comparable values, and the scopes they cover


def flatten_settings(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (``{"method": {"whiten": "zca"}}`` -> ``{"method.whiten": "zca"}``).

    Lists become JSON strings; empty mappings (``dataset.options: {}``) give no key.
    """
    flat: dict[str, Any] = {}
    for name, value in config.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(flatten_settings(value, key + "."))
        elif isinstance(value, (list, tuple)):
            flat[key] = json.dumps(value, sort_keys=True)
        else:
            flat[key] = value
    return flat


def _ignored(key: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(key, pattern) or (pattern.endswith(".*") and key == pattern[:-2]) for pattern in patterns)


def _kept(config: Mapping[str, Any], patterns: Sequence[str]) -> dict[str, Any]:
    return {key: value for key, value in flatten_settings(config).items() if not _ignored(key, patterns)}


def run_settings(result: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """The settings of one run as flattened keys, and the scopes they cover.

    Scopes: ``"pretrain"`` when the pretraining configuration is known (a pretraining run's
    ``config``, an evaluation run's ``pretrain_config``), ``"linear"`` / ``"knn"`` when an evaluation
    run's own ``config`` gives its ``linear.*`` / ``knn.*``. A key outside a run's scopes is unknown
    for that run, not different.
    """
    stage = result.get("stage", "pretrain")
    config = result.get("config")
    pretrain_config = config if stage == "pretrain" else result.get("pretrain_config")
    settings: dict[str, Any] = {}
    scopes = set()
    if isinstance(pretrain_config, Mapping):
        settings.update(_kept(pretrain_config, IGNORED_SETTINGS + PRETRAIN_IGNORED_SETTINGS))
        scopes.add(PRETRAIN_SCOPE)
    if stage in EVAL_STAGES and isinstance(config, Mapping):
        own = config.get(stage)
        settings.update(_kept({stage: own if isinstance(own, Mapping) else {}}, IGNORED_SETTINGS))
        scopes.add(stage)
    return settings, frozenset(scopes)


def scope(key: str) -> str:
    """The scope a key belongs to: ``linear`` / ``knn`` for their sections, else ``pretrain``."""
    section = key.partition(".")[0]
    return section if section in EVAL_STAGES else PRETRAIN_SCOPE


def setting_value(value: Any) -> SettingValue:
    """Comparable form: numbers by value (256 == 256.0, sorted numerically), the rest as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (0, value)
    if isinstance(value, float) and math.isfinite(value):
        return (0, value)
    return (1, value if isinstance(value, str) else json.dumps(value))  # true, false, null, NaN


def setting_text(value: SettingValue) -> str:
    if value == ABSENT:
        return MISSING
    rank, payload = value
    return repr(payload) if rank == 0 else str(payload)


def comparable(result: Mapping[str, Any], scopes: Sequence[str] = ()) -> Settings:
    """:func:`run_settings` as comparable values, restricted to ``scopes`` when given."""
    values, known = run_settings(result)
    if scopes:
        values = {key: value for key, value in values.items() if scope(key) in scopes}
        known = known & frozenset(scopes)
    return {key: setting_value(value) for key, value in values.items()}, known


def _column_rank(key: str) -> tuple[bool, int, str]:
    """Which of several keys that vary alike names the column: not a copy, shallowest, alphabetical."""
    return (key.partition(".")[0] in COPY_SECTIONS, key.count("."), key)


def setting_columns(runs: Sequence[Settings]) -> list[str]:
    """The keys whose values differ between ``runs`` (sorted), one per set of keys that vary alike.

    A key differs when the runs that know its scope hold two or more values for it (absent counts
    as a value there: ``+method.extra=1`` on one run is a difference). Keys with the same value on
    every run (``method.whiten`` and its copy ``model.method.whiten``) give one column.
    """
    by_pattern: dict[tuple[SettingValue, ...], str] = {}
    for key in sorted(set().union(*(values for values, _ in runs))):
        if len({values.get(key, ABSENT) for values, scopes in runs if scope(key) in scopes}) < 2:
            continue
        pattern = tuple(values.get(key, ABSENT) for values, _ in runs)
        if pattern not in by_pattern or _column_rank(key) < _column_rank(by_pattern[pattern]):
            by_pattern[pattern] = key
    return sorted(by_pattern.values())
