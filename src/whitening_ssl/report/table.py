"""The reproduction table in Markdown: a row per setting, our figures next to the paper's."""

from __future__ import annotations

from collections.abc import Sequence

from ..paper_results import CITATION
from .collect import METRICS
from .rows import CHECKPOINT_EPOCH, Figure, Row
from .run_settings import MISSING

COPY_MARK = "†"
#: per metric: the heading of the online figure (always shown), then the paper's number and Δ
METRIC_HEADINGS = {"linear_top1": "linear top-1", "knn_top1": "5-NN top-1"}
UNTRAINED_HEADING = "untrained"


def _stage_heading(stage: str) -> str:
    return f"stage={stage}"


def _ours(figure: Figure, runs: int) -> str:
    """Mean, ± sample std and n with more than one value; n also when fewer values than runs."""
    if figure.mean is None:
        return MISSING
    text = f"{figure.mean:.2f}"
    if figure.std is not None:
        text += f" ± {figure.std:.2f} (n={figure.n})"
    elif figure.n < runs:
        text += f" (n={figure.n})"
    return text


def _paper(row: Row, metric: str) -> str:
    value = row.paper_value(metric)
    if value is None:
        return MISSING
    return f"{value:.2f}" + (COPY_MARK if row.paper.get("source") == "copy" else "")


def _delta(row: Row, metric: str) -> str:
    value = row.delta(metric)
    return MISSING if value is None else f"{value:+.2f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _shown(rows: Sequence[Row], part: str, metric: str) -> bool:
    """Whether any row has a figure of ``part`` (``untrained`` / ``staged``) for ``metric``: its column is shown."""
    return any(getattr(row, part).get(metric, Figure()).values for row in rows)


def _notes(rows: Sequence[Row], columns: Sequence[str]) -> list[str]:
    untrained = any(_shown(rows, "untrained", metric) for metric, _ in METRICS)
    staged = [stage for metric, stage in METRICS if _shown(rows, "staged", metric)]
    ours = (
        "Ours: mean over runs, ± sample standard deviation (n runs) when more than one; (n=...) also where "
        "fewer runs of the row have the figure. linear top-1, 5-NN top-1: the online evaluation at the end of "
        "pretraining"
    )
    if untrained:
        ours += f"; {UNTRAINED_HEADING}: the same encoder before training (eval.evaluate_untrained=true)"
    if staged:
        ours += (
            f"; {' / '.join(map(_stage_heading, staged))}: a separate evaluation of the pretrained checkpoint "
            f"(python run.py stage=... ckpt=...), which Δ uses where there is one"
        )
    ours += (
        ". Δ = ours - paper. runs: models (pretraining runs) merged; the results of one model from "
        "several stages share its row."
    )
    lines = ["", f"Paper numbers: {CITATION}; {COPY_MARK} third-party copy", ours]
    if columns:
        lines.append(
            "Setting columns (dotted configuration keys): the values that differ between runs of one method and "
            "dataset; for a linear / k-NN evaluation those of the pretraining run it evaluated, and its own linear.* / "
            f"knn.*. Runs differing only in seed, paths, logging or workers share a row. {MISSING}: not varied there."
            + (
                f" {CHECKPOINT_EPOCH}: the epochs the evaluated checkpoint was trained (epoch0001.ckpt: 1; the run's "
                "end: its epochs)."
                if CHECKPOINT_EPOCH in columns
                else ""
            )
        )
    return lines


def markdown_table(rows: Sequence[Row]) -> str:
    """The reproduction table in Markdown, with its footnotes (ends with a newline).

    The settings that differ between runs (:func:`~.rows.build_rows`) are extra columns after ``dataset``,
    headed by their dotted key; ``–`` where a row does not vary (or has no) such setting. Per metric,
    the online figure, then the ``untrained`` baseline and the ``stage=...`` figure when any row has
    them, then the paper's number and Δ.
    """
    columns = sorted(set().union(*(row.settings for row in rows)))
    parts = {metric: [p for p in ("untrained", "staged") if _shown(rows, p, metric)] for metric, _ in METRICS}
    header = ["method", "dataset", *map(_cell, columns), "runs"]
    for metric, stage in METRICS:
        header += [
            METRIC_HEADINGS[metric],
            *(UNTRAINED_HEADING if p == "untrained" else _stage_heading(stage) for p in parts[metric]),
            "paper",
            "Δ",
        ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = [row.method, row.label, *(_cell(row.settings.get(key, MISSING)) for key in columns), str(row.runs)]
        for metric, _ in METRICS:
            cells.append(_ours(row.online.get(metric, Figure()), row.runs))
            cells += [_ours(getattr(row, p).get(metric, Figure()), row.runs) for p in parts[metric]]
            cells += [_paper(row, metric), _delta(row, metric)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines + _notes(rows, columns)) + "\n"
