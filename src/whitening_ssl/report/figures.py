"""The figures of ``--plots``: one per metric, a curve per pretraining run against epoch, and one against
wall time (``<metric>_time.png``, minutes since training started) where the runs' evaluations are stamped.

Each run's values at its evaluations are points (one evaluation, as in the quickstart, is one point),
its untrained baseline (``eval.evaluate_untrained=true``) a hollow square at epoch 0, the epoch axis
from 0. Legends name the runs by what differs between them: the method and dataset when they differ,
then the settings that differ between runs of one method and dataset (the table's columns), then the
seed, and a run's folder only where nothing else tells two runs apart. What all runs share (the method,
the dataset; the run's folder when there is one run) is in the title.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .collect import stage_of
from .run_settings import PRETRAIN_SCOPE, comparable, setting_columns, setting_text

#: the figures of ``--plots``: a history key of the online evaluation and what it measures
PLOT_METRICS = (
    ("knn_top1", "k-NN top-1 (%)"),
    ("linear_top1", "linear top-1 (%)"),
    ("analysis/embedding/effective_rank", "effective rank of the embedding"),
    ("analysis/whitened/stable_rank", "normalised stable rank of the whitened output"),
    ("analysis/whitened/negative_cosine", "negatives' cosine similarity, whitened output"),
)

#: drawn like :data:`PLOT_METRICS` where the runs have them
OPTIONAL_PLOT_METRICS = (("online_probe_top1", "online linear probe top-1 (%)"),)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _seed(result: dict[str, Any]) -> Any:
    config = result.get("config")
    return config.get("seed") if isinstance(config, dict) else None


def run_labels(results: Sequence[dict[str, Any]]) -> dict[str, str]:
    """A legend label per run (by ``_path``): see the module's docstring."""
    methods = {r["method"] for r in results}
    datasets = {r["dataset"] for r in results}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in results:
        groups.setdefault((result["method"], result["dataset"]), []).append(result)
    parts: dict[str, list[str]] = {}
    for (method, dataset), members in groups.items():
        settings = [comparable(r, [PRETRAIN_SCOPE]) for r in members]
        columns = setting_columns(settings)
        for result, (values, _) in zip(members, settings):
            named = [method] * (len(methods) > 1) + [dataset] * (len(datasets) > 1)
            named += [f"{key}={setting_text(values[key])}" for key in columns if key in values]
            parts[result["_path"]] = named or [method]
    labels = {path: " ".join(named) for path, named in parts.items()}
    for label, count in Counter(labels.values()).items():
        alike = [r for r in results if labels[r["_path"]] == label]
        if count > 1 and len({str(_seed(r)) for r in alike}) > 1:  # seed replicates
            for result in alike:
                labels[result["_path"]] = f"{label} seed={_seed(result)}"
    for label, count in Counter(labels.values()).items():
        if count > 1:
            same = [path for path in labels if labels[path] == label]
            labels.update({path: f"{label} ({folder})" for path, folder in _distinct_folders(same).items()})
    return labels


def _distinct_folders(paths: Sequence[str]) -> dict[str, str]:
    """Each results.json's folder as its last few path components: as few as tell them apart."""
    parents = {path: Path(path).parent.parts for path in paths}
    for depth in range(1, max(len(parts) for parts in parents.values()) + 1):
        names = {path: "/".join(parts[-depth:]) for path, parts in parents.items()}
        if len(set(names.values())) == len(names):
            return names
    return {path: str(Path(path).parent) for path in paths}  # the same folder twice: as given


def training_runs(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pretraining runs with an evaluation history."""
    return _pretraining(results)


def _pretraining(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in results if stage_of(r) == "pretrain" and r.get("history")]


def curves(
    results: Sequence[dict[str, Any]], metric: str, labels: dict[str, str] | None = None, x: str = "epoch"
) -> dict[str, list[tuple[float, float]]]:
    """``{run label: [(epoch, value), ...]}`` of ``metric`` over the evaluation history of pretraining runs
    (``labels``: :func:`run_labels` of those runs, when already computed; ``x="seconds"``: against the
    wall time in minutes, the records without a time left out)."""
    pretraining = _pretraining(results)
    labels = labels if labels is not None else run_labels(pretraining)
    out = {}
    for result in pretraining:
        scale = 60.0 if x == "seconds" else 1.0
        points = [
            (float(h[x]) / scale, float(h[metric]))
            for h in result["history"]
            if _number(h.get(metric)) and _number(h.get(x))
        ]
        if points:
            out[labels[result["_path"]]] = points
    return out


def baselines(results: Sequence[dict[str, Any]], metric: str, labels: dict[str, str] | None = None) -> dict[str, float]:
    """``{run label: value}`` of ``metric`` for the untrained encoder of the pretraining runs that measured it."""
    pretraining = _pretraining(results)
    labels = labels if labels is not None else run_labels(pretraining)
    return {
        labels[r["_path"]]: float(r["untrained"][metric])
        for r in pretraining
        if isinstance(r.get("untrained"), dict) and _number(r["untrained"].get(metric))
    }


def shared_context(results: Sequence[dict[str, Any]]) -> str:
    """What every run has in common, for the title: ``cw_rgp4 on cifar10``, ``cifar10``, or nothing."""
    methods, datasets = {r["method"] for r in results}, {r["dataset"] for r in results}
    method = next(iter(methods)) if len(methods) == 1 else ""
    dataset = next(iter(datasets)) if len(datasets) == 1 else ""
    return " on ".join(part for part in (method, dataset) if part)


def write_plots(results: Sequence[dict[str, Any]], folder: str | os.PathLike) -> dict[str, str]:
    """One PNG per metric of :data:`PLOT_METRICS` with a curve per run, in ``folder``; returns their paths."""
    from ..analysis import plots  # matplotlib: imported when drawing

    pretraining = _pretraining(results)
    labels = run_labels(pretraining)
    context = shared_context(pretraining)
    if len(pretraining) == 1:  # one run: the title names it (several: the legend does)
        context += f", run {Path(pretraining[0]['_path']).parent.name}"
    written = {}
    for metric, title in (*PLOT_METRICS, *OPTIONAL_PLOT_METRICS):
        for x, suffix in (("epoch", ""), ("seconds", "_time")):
            runs = curves(pretraining, metric, labels, x=x)
            if not runs:
                continue
            figure = plots.plot_metric_curves(
                runs,
                title,
                baselines=baselines(pretraining, metric, labels),
                title=f"{title}: {context}" if context else title,
                **({} if x == "epoch" else {"xlabel": "minutes since training started"}),
            )
            written[metric + suffix] = str(
                plots.save_figure(figure, Path(folder) / (metric.replace("/", "_") + suffix + ".png"))
            )
    return written
