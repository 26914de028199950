"""Reproduction table: our results next to the paper's numbers.

Usage::

    python -m whitening_ssl.report PATH [PATH ...] [--output FILE]

Every ``results.json`` under each PATH (a run directory, a Hydra sweep directory, or the file
itself) is read; runs of the same (method, dataset) are merged into one row: the mean, and with
more than one run the sample standard deviation and n. A separate ``stage=linear`` (``stage=knn``)
run gives the row's linear (k-NN) figure in place of the online evaluation of pretraining; such
figures are marked ``‡``. The table is printed and written to ``--output`` (default
``PATH/reproduction.md`` when a single directory is given).

ImageNet rows are split by pretraining epochs, as the paper's number depends on them: a pretraining
run's ``epochs``, or ``pretrain_epochs`` for a linear / k-NN run (whose ``epochs`` are the probe's);
a linear / k-NN run without ``pretrain_epochs`` joins the method's only ImageNet pretraining row
when there is exactly one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .paper_results import CITATION, paper_numbers

RESULTS_FILE = "results.json"
REPORT_FILE = "reproduction.md"

#: Row order: datasets, then methods (unknown names after these, alphabetically).
DATASET_ORDER = ("cifar10", "cifar100", "stl10", "tiny_imagenet", "imagenet100", "imagenet")
METHOD_ORDER = ("cw_rgp4", "cw_rgp2", "w_mse4", "w_mse2", "simclr", "byol", "simsiam", "barlow_twins",
                "vicreg", "zero_cl", "shuffled_dbn", "bn", "plain", "pca")

MISSING = "–"  # en dash
COPY_MARK = "†"
STAGE_MARK = "‡"
HEADER = ("method", "dataset", "runs", "linear top-1", "paper", "Δ", "5-NN top-1", "paper", "Δ")

STAGES = ("pretrain", "linear", "knn")
# (metric, the evaluation stage whose figure takes precedence over the online one)
METRICS = (("linear_top1", "linear"), ("knn_top1", "knn"))


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# --------------------------------------------------------------------------------------------------
# Reading


def _find(path: Path) -> List[Path]:
    """``path`` itself when it is a file, else every results.json below it (sorted, no symlinked dirs)."""
    if path.is_file():
        return [path]
    found = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        if RESULTS_FILE in files:
            found.append(Path(root) / RESULTS_FILE)
    return found


def _validate(data: Any) -> Dict[str, Any]:
    """The fields the table uses, checked; raises ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    if data.get("stage", "pretrain") not in STAGES:
        raise ValueError(f"unknown stage {data.get('stage')!r}")
    for key in ("method", "dataset"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ValueError(f"no {key!r}")
    final = data.get("final")
    if not isinstance(final, dict):
        raise ValueError("no 'final' figures (unfinished run?)")
    metrics = {}
    for key, _ in METRICS:
        value = final.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"final.{key} is not a number: {value!r}")
        if not 0.0 <= value <= 100.0:
            raise ValueError(f"final.{key}={value!r} is not a percentage in [0, 100]")
        metrics[key] = float(value)
    if not metrics:
        raise ValueError("no linear_top1 or knn_top1 in 'final'")
    return metrics


def collect_results(path: Union[str, os.PathLike]) -> List[Dict[str, Any]]:
    """Read every ``results.json`` under ``path`` (or the file ``path`` itself).

    A file that cannot be read, is not JSON, or lacks method, dataset or final figures is skipped
    with a warning on stderr naming it. Each returned dict is the file's content plus ``_path``.
    """
    results = []
    for file in _find(Path(path)):
        try:
            data = json.loads(file.read_text())
            if isinstance(data, dict) and data.get("stage") == "export":
                continue  # no figures to report, by design
            _validate(data)
        except (OSError, UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
            _warn(f"skipping {file}: {error}")
            continue
        data["_path"] = str(file)
        results.append(data)
    return results


# --------------------------------------------------------------------------------------------------
# Grouping


@dataclass
class Figure:
    """One metric of a row: the values merged and whether they come from a separate eval stage."""

    values: List[float] = field(default_factory=list)
    from_stage: bool = False

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> Optional[float]:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> Optional[float]:
        """Sample standard deviation (n - 1); ``None`` with fewer than two values."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None


@dataclass
class Row:
    """One (method, dataset) line of the table (ImageNet: one per pretraining epochs)."""

    method: str
    dataset: str
    epochs: Optional[int] = None  # pretraining epochs; set (and used) for ImageNet only
    paths: List[str] = field(default_factory=list)
    linear: Figure = field(default_factory=Figure)
    knn: Figure = field(default_factory=Figure)
    paper: Dict[str, Any] = field(default_factory=dict)  # paper_results.paper_numbers(...)

    @property
    def runs(self) -> int:
        """results.json files merged into this row."""
        return len(self.paths)

    @property
    def label(self) -> str:
        return f"{self.dataset} ({self.epochs} ep)" if self.epochs is not None else self.dataset

    def figure(self, metric: str) -> Figure:
        return self.linear if metric == "linear_top1" else self.knn

    def paper_value(self, metric: str) -> Optional[float]:
        return self.paper.get(metric)

    def delta(self, metric: str) -> Optional[float]:
        """Ours - paper, from our mean as displayed (2 decimals) so the table's arithmetic checks."""
        ours, paper = self.figure(metric).mean, self.paper_value(metric)
        if ours is None or paper is None:
            return None
        return round(round(ours, 2) - paper, 2) + 0.0  # + 0.0: no "-0.00"

    def sort_key(self) -> Tuple:
        d = DATASET_ORDER.index(self.dataset) if self.dataset in DATASET_ORDER else len(DATASET_ORDER)
        base = _base_method(self.method)
        m = METHOD_ORDER.index(base) if base else len(METHOD_ORDER)
        return (d, self.dataset, m, self.method, self.epochs is None, self.epochs or 0)


def _base_method(method: str) -> Optional[str]:
    """The known method ``method`` is or starts with (``cw_rgp2_quickstart`` -> ``cw_rgp2``), for ordering."""
    candidates = [m for m in METHOD_ORDER if method == m or method.startswith(m + "_")]
    return max(candidates, key=len) if candidates else None


def _epochs(result: Dict[str, Any]) -> Optional[int]:
    """Pretraining epochs of a run: ``epochs`` of a pretraining run, else ``pretrain_epochs``."""
    value = result.get("epochs") if result.get("stage", "pretrain") == "pretrain" else result.get("pretrain_epochs")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def build_rows(results: Iterable[Dict[str, Any]]) -> List[Row]:
    """Group results by (method, dataset) (ImageNet: and pretraining epochs) into sorted rows.

    Per metric, the figures of separate evaluation runs (``stage`` linear for ``linear_top1``,
    ``knn`` for ``knn_top1``) take precedence over the online figures of pretraining runs: when a
    row has any, only those are averaged.
    """
    results = list(results)
    keyed: List[Tuple[Tuple[str, str, Optional[int]], Dict[str, Any]]] = []
    for result in results:
        epochs = _epochs(result) if result["dataset"] == "imagenet" else None
        keyed.append(((result["method"], result["dataset"], epochs), result))
    # ImageNet evaluation runs with unknown pretraining epochs join the method's only known row.
    known: Dict[Tuple[str, str], set] = {}
    for (method, dataset, epochs), _ in keyed:
        if dataset == "imagenet" and epochs is not None:
            known.setdefault((method, dataset), set()).add(epochs)
    for i, ((method, dataset, epochs), result) in enumerate(keyed):
        if dataset == "imagenet" and epochs is None and len(known.get((method, dataset), ())) == 1:
            keyed[i] = ((method, dataset, next(iter(known[(method, dataset)]))), result)

    groups: Dict[Tuple[str, str, Optional[int]], List[Dict[str, Any]]] = {}
    for key, result in keyed:
        groups.setdefault(key, []).append(result)

    rows = []
    for (method, dataset, epochs), members in groups.items():
        row = Row(method, dataset, epochs, paths=[str(r.get("_path", "?")) for r in members],
                  paper=paper_numbers(method, dataset, epochs))
        for metric, stage in METRICS:
            staged = [r["final"][metric] for r in members
                      if r.get("stage") == stage and r["final"].get(metric) is not None]
            online = [r["final"][metric] for r in members
                      if r.get("stage", "pretrain") == "pretrain" and r["final"].get(metric) is not None]
            figure = row.figure(metric)
            figure.values = [float(v) for v in (staged or online)]
            figure.from_stage = bool(staged)
        rows.append(row)
    rows.sort(key=Row.sort_key)
    return rows


# --------------------------------------------------------------------------------------------------
# Rendering


def _ours(figure: Figure) -> str:
    if figure.mean is None:
        return MISSING
    text = f"{figure.mean:.2f}"
    if figure.std is not None:
        text += f" ± {figure.std:.2f} (n={figure.n})"
    return text + (STAGE_MARK if figure.from_stage else "")


def _paper(row: Row, metric: str) -> str:
    value = row.paper_value(metric)
    if value is None:
        return MISSING
    return f"{value:.2f}" + (COPY_MARK if row.paper.get("source") == "copy" else "")


def _delta(row: Row, metric: str) -> str:
    value = row.delta(metric)
    return MISSING if value is None else f"{value:+.2f}"


def markdown_table(rows: Sequence[Row]) -> str:
    """The reproduction table in Markdown, with its footnotes (ends with a newline)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    for row in rows:
        cells = [row.method, row.label, str(row.runs)]
        for metric, _ in METRICS:
            cells += [_ours(row.figure(metric)), _paper(row, metric), _delta(row, metric)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Paper numbers: {CITATION}; {COPY_MARK} third-party copy",
        f"Ours: mean over runs, ± sample standard deviation (n runs) when more than one; {STAGE_MARK} from a "
        "separate stage=linear / stage=knn evaluation (preferred to the online evaluation of pretraining). "
        "Δ = ours - paper. runs: results.json files merged.",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m whitening_ssl.report",
        description="Reproduction table: the results.json of runs (searched recursively) next to the paper's numbers.")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="a run or sweep directory (searched recursively) or a results.json file")
    parser.add_argument("--output", "-o", metavar="FILE",
                        help="write the table here (default: PATH/reproduction.md when one directory is given)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """CLI entry point; returns (and exits with) 0, or 2 when there is nothing to report."""
    args = _parser().parse_args(argv)
    results, seen = [], set()
    for path in args.paths:
        for result in collect_results(path):
            key = os.path.realpath(result["_path"])
            if key not in seen:
                seen.add(key)
                results.append(result)
    if not results:
        where = " ".join(args.paths)
        print(f"error: no results.json under {where}: run python run.py ... first "
              "(pretraining, or stage=linear / stage=knn ckpt=...)", file=sys.stderr)
        sys.exit(2)

    table = markdown_table(build_rows(results))
    print(table, end="")
    output = args.output
    if output is None and len(args.paths) == 1 and Path(args.paths[0]).is_dir():
        output = str(Path(args.paths[0]) / REPORT_FILE)
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(table)
        print(f"wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    main()
