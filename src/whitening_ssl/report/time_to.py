"""``--time-to METRIC=VALUE``: when each pretraining run first reached an accuracy.

The online evaluation stamps each record of a run's ``history`` with ``seconds`` (wall time since
training started), ``train_seconds`` (the same less evaluation time) and ``device_hours``
(:mod:`whitening_ssl.eval.clock`). The time to ``knn_top1=75`` is the stamp of the first record whose
``knn_top1`` is at or above 75; a run that never got there says so with its best figure.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any


def parse_threshold(text: str) -> tuple[str, float]:
    """``"knn_top1=75"`` -> ``("knn_top1", 75.0)`` (argparse ``type``: a bad value is a usage error)."""
    metric, _, value = text.partition("=")
    try:
        threshold = float(value)
    except ValueError:
        threshold = math.nan
    if not metric or not math.isfinite(threshold):
        raise argparse.ArgumentTypeError(f"{text!r} is not METRIC=VALUE, e.g. knn_top1=75")
    return metric, threshold


def first_reaching(history: Sequence[dict[str, Any]], metric: str, threshold: float) -> dict[str, Any] | None:
    """The first record (in epoch order) whose ``metric`` is at or above ``threshold``; ``None`` if none is."""
    for record in sorted(history, key=lambda h: h.get("epoch", 0)):
        value = record.get(metric)
        if isinstance(value, (int, float)) and value >= threshold:
            return record
    return None


def _describe(record: dict[str, Any]) -> str:
    if not isinstance(record.get("seconds"), (int, float)):
        return f"at epoch {record['epoch']} (no time recorded)"
    return (
        f"{record['seconds']:.0f} s ({record['seconds'] / 60:.1f} min) at epoch {record['epoch']}, "
        f"{record.get('train_seconds', math.nan):.0f} s training, {record.get('device_hours', math.nan):.3g} "
        "device-hours"
    )


def time_to_lines(
    results: Sequence[dict[str, Any]], thresholds: Sequence[tuple[str, float]], labels: dict[str, str]
) -> list[str]:
    """One line per (threshold, run) for the pretraining runs labelled in ``labels`` (by ``_path``)."""
    lines = []
    for metric, threshold in thresholds:
        for result in results:
            if result["_path"] not in labels:
                continue
            history = result.get("history") or []
            record = first_reaching(history, metric, threshold)
            if record is not None:
                said = _describe(record)
            else:
                values = [(h[metric], h["epoch"]) for h in history if isinstance(h.get(metric), (int, float))]
                best = max(values, default=None)
                said = "not reached" + (f" (best {best[0]:.2f} at epoch {best[1]})" if best else f" (no {metric})")
            lines.append(f"time to {metric} >= {threshold:g}: {labels[result['_path']]}: {said}")
    return lines
