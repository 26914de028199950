"""The table's rows: models grouped by (method, dataset) and the settings that differ between them.

A row is one setting of one method on one dataset (ImageNet: and pretraining epochs): the models
(pretraining runs) that differ only in seeds and ignored keys, their figures averaged. The results of
one model from several stages share its row: the online evaluation of pretraining, the untrained
baseline, and the separate ``stage=linear`` / ``stage=knn`` figures side by side. Evaluations of one
model with different ``linear.*`` / ``knn.*`` settings (``knn.k=5,20``) are a row each. A checkpoint
saved before the end (``epoch0001.ckpt``) is a model of its own: where the checkpoints of a method and
dataset differ in the epochs they were trained, the ``checkpoint.epoch`` column names each row's.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..paper_results import PAPER_DATASETS, PAPER_METHODS, PAPER_RESULTS, paper_numbers
from .collect import METRICS, Model, models
from .run_settings import (
    ABSENT,
    EVAL_STAGES,
    PRETRAIN_SCOPE,
    Settings,
    SettingValue,
    comparable,
    scope,
    setting_columns,
    setting_text,
    setting_value,
)

#: Row order: the paper's datasets and methods first, in its table's order (others alphabetically after).
DATASET_ORDER = PAPER_DATASETS + tuple(sorted({d for _, d in PAPER_RESULTS} - set(PAPER_DATASETS)))
METHOD_ORDER = PAPER_METHODS
#: the column of the epochs a model's checkpoint was trained (a run's end, or an earlier epochNNNN.ckpt)
CHECKPOINT_EPOCH = "checkpoint.epoch"


@dataclass
class Figure:
    """One metric of a row: the values merged and whether they come from a separate eval stage."""

    values: list[float] = field(default_factory=list)
    from_stage: bool = False

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation (n - 1); ``None`` with fewer than two values."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None


@dataclass
class Row:
    """One line of the table: (method, dataset, ImageNet pretraining epochs, differing settings)."""

    method: str
    dataset: str
    epochs: int | None = None  # pretraining epochs; set (and used) for ImageNet only
    models: int = 0  # pretraining runs (seeds) merged
    paths: list[str] = field(default_factory=list)  # the results.json files merged
    online: dict[str, Figure] = field(default_factory=dict)  # metric -> the online evaluation's figure
    untrained: dict[str, Figure] = field(default_factory=dict)  # metric -> the encoder before training
    staged: dict[str, Figure] = field(default_factory=dict)  # metric -> the stage=linear / stage=knn figure
    paper: dict[str, Any] = field(default_factory=dict)  # paper_results.paper_numbers(...)
    settings: dict[str, str] = field(default_factory=dict)  # differing setting -> value as shown
    settings_order: tuple[SettingValue, ...] = ()  # the settings' values as sorted (numbers numerically)

    @property
    def runs(self) -> int:
        """Models merged into this row (not result files: a model's stage results share its row)."""
        return self.models

    @property
    def label(self) -> str:
        return f"{self.dataset} ({self.epochs} ep)" if self.epochs is not None else self.dataset

    def figure(self, metric: str) -> Figure:
        """The figure compared with the paper: the separate stage's when there is one, else the online one."""
        staged = self.staged.get(metric)
        return staged if staged is not None and staged.values else self.online.get(metric, Figure())

    @property
    def linear(self) -> Figure:
        return self.figure("linear_top1")

    @property
    def knn(self) -> Figure:
        return self.figure("knn_top1")

    def paper_value(self, metric: str) -> float | None:
        return self.paper.get(metric)

    def delta(self, metric: str) -> float | None:
        """Ours - paper, from our mean as displayed (2 decimals) so the table's arithmetic checks."""
        ours, paper = self.figure(metric).mean, self.paper_value(metric)
        if ours is None or paper is None:
            return None
        return round(round(ours, 2) - paper, 2) + 0.0  # + 0.0: no "-0.00"

    def sort_key(self) -> tuple:
        d = DATASET_ORDER.index(self.dataset) if self.dataset in DATASET_ORDER else len(DATASET_ORDER)
        base = _base_method(self.method)
        m = METHOD_ORDER.index(base) if base else len(METHOD_ORDER)
        return (d, self.dataset, m, self.method, self.epochs is None, self.epochs or 0, self.settings_order)


def _base_method(method: str) -> str | None:
    """The paper's method ``method`` is or starts with (``cw_rgp2_quickstart`` -> ``cw_rgp2``), for ordering."""
    candidates = [m for m in METHOD_ORDER if method == m or method.startswith(m + "_")]
    return max(candidates, key=len) if candidates else None


def _by_method_dataset(found: list[Model]) -> dict[tuple[str, str, int | None], list[Model]]:
    """Models by (method, dataset, ImageNet pretraining epochs or None); ImageNet models with unknown
    pretraining epochs join the method's only known row."""
    keyed = [
        ((m.first["method"], m.first["dataset"], m.epochs if m.first["dataset"] == "imagenet" else None), m)
        for m in found
    ]
    known: dict[tuple[str, str], set] = {}
    for (method, dataset, epochs), _ in keyed:
        if dataset == "imagenet" and epochs is not None:
            known.setdefault((method, dataset), set()).add(epochs)
    groups: dict[tuple[str, str, int | None], list[Model]] = {}
    for (method, dataset, epochs), model in keyed:
        if dataset == "imagenet" and epochs is None and len(known.get((method, dataset), ())) == 1:
            epochs = next(iter(known[(method, dataset)]))
        groups.setdefault((method, dataset, epochs), []).append(model)
    return groups


def _numbers(records: Iterable[Any], metric: str) -> list[float]:
    values = [r.get(metric) for r in records if isinstance(r, dict)]
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def _backbone(group: Sequence[Model]) -> str | None:
    """``backbone.name`` of the models' pretraining (one row's models share it), if recorded."""
    name = group[0].pretrain_settings_source.get("backbone") if group else None
    return name if isinstance(name, str) else None


def _row(
    key: tuple[str, str, int | None],
    group: Sequence[Model],
    staged: dict[str, list[dict[str, Any]]],
    settings: dict[str, SettingValue],
) -> Row:
    """The row of the models ``group`` with the evaluations ``staged`` (stage -> results)."""
    method, dataset, epochs = key
    pretrains = [m.pretrain for m in group if m.pretrain is not None]
    chosen = {id(r) for results in staged.values() for r in results}
    row = Row(
        method,
        dataset,
        epochs,
        models=len(group),
        paths=[str(r.get("_path", "?")) for m in group for r in m.results if r is m.pretrain or id(r) in chosen],
        paper=paper_numbers(method, dataset, epochs, _backbone(group)),
        settings={k: setting_text(v) for k, v in settings.items() if v != ABSENT},
        settings_order=tuple(settings.values()),
    )
    for metric, stage in METRICS:
        row.online[metric] = Figure(_numbers((p["final"] for p in pretrains), metric))
        row.untrained[metric] = Figure(_numbers((p.get("untrained") for p in pretrains), metric))
        row.staged[metric] = Figure(_numbers((r["final"] for r in staged.get(stage, ())), metric), from_stage=True)
    return row


def _pretraining_settings(model: Model, by_epoch: bool) -> Settings:
    """The model's pretraining settings; ``by_epoch``: with the epochs its checkpoint was trained (where the
    checkpoint does not say, the run's ``epochs``: a finished run's)."""
    values, known = comparable(model.pretrain_settings_source, [PRETRAIN_SCOPE])
    epoch = setting_value(model.epochs) if model.epochs is not None else values.get("epochs")
    if by_epoch and epoch is not None:
        values = {**values, CHECKPOINT_EPOCH: epoch}
    return values, known


def _rows(key: tuple[str, str, int | None], members: list[Model]) -> list[Row]:
    """The rows of one (method, dataset): by pretraining setting and checkpoint, then by evaluation setting
    (ImageNet's key already holds the epochs)."""
    pretraining = [_pretraining_settings(m, by_epoch=key[2] is None) for m in members]
    evaluations = [(i, r, comparable(r, [r["stage"]])) for i, m in enumerate(members) for r in m.evaluations]
    columns = setting_columns(pretraining + [settings for _, _, settings in evaluations])
    own = {name: [c for c in columns if scope(c) == name] for name in (PRETRAIN_SCOPE, *EVAL_STAGES)}
    by_setting: dict[tuple[SettingValue, ...], list[int]] = {}
    for i, (values, _) in enumerate(pretraining):
        by_setting.setdefault(tuple(values.get(c, ABSENT) for c in own[PRETRAIN_SCOPE]), []).append(i)
    rows = []
    for setting, indices in by_setting.items():
        variants = []  # per evaluation stage: {its settings: its results}
        for stage in EVAL_STAGES:
            found: dict[tuple[SettingValue, ...], list[dict[str, Any]]] = {}
            for i, result, (values, _) in evaluations:
                if i in indices and result["stage"] == stage:
                    found.setdefault(tuple(values.get(c, ABSENT) for c in own[stage]), []).append(result)
            variants.append(list(found.items()) or [(tuple(ABSENT for _ in own[stage]), [])])
        for combination in itertools.product(*variants):
            values = dict(zip(own[PRETRAIN_SCOPE], setting))
            for stage, (stage_setting, _) in zip(EVAL_STAGES, combination):
                values.update(zip(own[stage], stage_setting))
            staged = {stage: results for stage, (_, results) in zip(EVAL_STAGES, combination)}
            rows.append(_row(key, [members[i] for i in indices], staged, {c: values[c] for c in columns}))
    return rows


def build_rows(results: Iterable[dict[str, Any]]) -> list[Row]:
    """Group results into sorted rows (see the module's docstring and :func:`~.collect.models`).

    Models left in one row differ only in seeds and ignored keys: their figures are averaged. Per
    metric the Δ to the paper uses the separate evaluation (``stage`` linear for ``linear_top1``,
    ``knn`` for ``knn_top1``) when the row has one, else the online figure of pretraining.
    """
    rows = [row for key, members in _by_method_dataset(models(results)).items() for row in _rows(key, members)]
    rows.sort(key=Row.sort_key)
    return rows
