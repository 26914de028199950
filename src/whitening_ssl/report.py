"""Reproduction table: our results next to the paper's numbers.

Usage::

    python -m whitening_ssl.report PATH [PATH ...] [--output FILE]

Every ``results.json`` under each PATH (a run directory, a Hydra sweep directory, or the file
itself) is read. Runs are merged into one row when they share (method, dataset) and every setting
that differs between the runs of that (method, dataset): only seeds are averaged. A row gives the
mean, and with more than one run the sample standard deviation and n. A separate ``stage=linear``
(``stage=knn``) run gives the row's linear (k-NN) figure in place of the online evaluation of
pretraining; such figures are marked ``‡``. The table is printed and written to ``--output``
(default ``PATH/reproduction.md`` when a single directory is given).

Settings: a run's ``config`` (its resolved Hydra configuration) flattened into dotted keys
(``method.whiten``, ``trainer.precision``; lists as JSON), less the bookkeeping keys of
:data:`IGNORED_SETTINGS` (seeds, paths, logging, worker counts, ...). A linear / k-NN run's settings
are those of the pretraining run it evaluated (``pretrain_config``) plus its own ``linear.*`` /
``knn.*``; without ``pretrain_config`` its pretraining settings are unknown, and it joins the only
pretraining setting of its (method, dataset) when there is one. The keys whose values differ become
columns of the table, e.g. after ``python run.py -m method.whiten=zca,cholesky`` a ``method.whiten``
column with one row per whitening.

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
from collections import Counter
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

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
# Settings

#: Flattened keys (``fnmatch`` patterns; ``X.*`` also matches ``X`` itself) that do not change a run's
#: result: seeds (averaged over), paths, logging, worker counts and evaluation schedules. The
#: ``data.*`` / ``model.dataset.*`` entries are config.yaml's interpolated copies of ``dataset.*``.
IGNORED_SETTINGS = (
    "seed", "eval.seed", "run_dir", "ckpt_path", "ckpt", "experiment_name", "stage", "logger.*", "hydra.*",
    "checkpoint_every*", "dataset.root", "dataset.download", "data.root", "data.download", "model.dataset.root",
    "model.dataset.download", "*num_workers", "*eval_batch_size", "trainer.enable_progress_bar",
    "trainer.log_every_n_steps", "trainer.default_root_dir", "eval.every_n_epochs*", "eval.enabled",
    "eval.evaluate_untrained", "analysis.*", "model.analysis.*", "overrides", "channels_last", "compile",
    "data.verify_images", "data.on_bad_image", "matmul_precision",
)
#: Also ignored in a pretraining configuration: what only the evaluation stages read.
PRETRAIN_IGNORED_SETTINGS = ("linear.*", "knn.*", "export.*", "dataset_from_ckpt")
#: Evaluation stages whose own section (``linear.*``, ``knn.*``) is a setting of their figure.
EVAL_STAGES = ("linear", "knn")
#: Sections config.yaml fills by interpolation (``model.method: ${method}``, ``data.batch_size:
#: ${method.batch_size}``): when a copy varies exactly like another key, the column is the other key.
COPY_SECTIONS = ("model", "data")

PRETRAIN_SCOPE = "pretrain"
# A setting's value as compared and sorted: (0, number) | (1, text); _ABSENT sorts after both.
SettingValue = Tuple[int, Union[int, float, str]]
_ABSENT: SettingValue = (2, "")


def flatten_settings(config: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Nested mappings as dotted keys (``{"method": {"whiten": "zca"}}`` -> ``{"method.whiten": "zca"}``).

    Lists become JSON strings; empty mappings (``dataset.options: {}``) give no key.
    """
    flat: Dict[str, Any] = {}
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


def _kept(config: Mapping[str, Any], patterns: Sequence[str]) -> Dict[str, Any]:
    return {key: value for key, value in flatten_settings(config).items() if not _ignored(key, patterns)}


def run_settings(result: Mapping[str, Any]) -> Tuple[Dict[str, Any], FrozenSet[str]]:
    """The settings of one run as flattened keys, and the scopes they cover.

    Scopes: ``"pretrain"`` when the pretraining configuration is known (a pretraining run's
    ``config``, an evaluation run's ``pretrain_config``), ``"linear"`` / ``"knn"`` when an evaluation
    run's own ``config`` gives its ``linear.*`` / ``knn.*``. A key outside a run's scopes is unknown
    for that run, not different.
    """
    stage = result.get("stage", "pretrain")
    config = result.get("config")
    pretrain_config = config if stage == "pretrain" else result.get("pretrain_config")
    settings: Dict[str, Any] = {}
    scopes = set()
    if isinstance(pretrain_config, Mapping):
        settings.update(_kept(pretrain_config, IGNORED_SETTINGS + PRETRAIN_IGNORED_SETTINGS))
        scopes.add(PRETRAIN_SCOPE)
    if stage in EVAL_STAGES and isinstance(config, Mapping):
        own = config.get(stage)
        settings.update(_kept({stage: own if isinstance(own, Mapping) else {}}, IGNORED_SETTINGS))
        scopes.add(stage)
    return settings, frozenset(scopes)


def _scope(key: str) -> str:
    section = key.partition(".")[0]
    return section if section in EVAL_STAGES else PRETRAIN_SCOPE


def _setting_value(value: Any) -> SettingValue:
    """Comparable form: numbers by value (256 == 256.0, sorted numerically), the rest as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (0, value)
    if isinstance(value, float) and math.isfinite(value):
        return (0, value)
    return (1, value if isinstance(value, str) else json.dumps(value))  # true, false, null, NaN


def _setting_text(value: SettingValue) -> str:
    if value == _ABSENT:
        return MISSING
    rank, payload = value
    return repr(payload) if rank == 0 else str(payload)


def _column_rank(key: str) -> Tuple[bool, int, str]:
    """Which of several keys that vary alike names the column: not a copy, shallowest, alphabetical."""
    return (key.partition(".")[0] in COPY_SECTIONS, key.count("."), key)


def _setting_columns(runs: Sequence[Tuple[Dict[str, SettingValue], FrozenSet[str]]]) -> List[str]:
    """The keys whose values differ between ``runs`` (sorted), one per set of keys that vary alike.

    A key differs when the runs that know its scope hold two or more values for it (absent counts
    as a value there: ``+method.extra=1`` on one run is a difference). Keys with the same value on
    every run (``method.whiten`` and its copy ``model.method.whiten``) give one column.
    """
    by_pattern: Dict[Tuple[SettingValue, ...], str] = {}
    for key in sorted(set().union(*(values for values, _ in runs))):
        scope = _scope(key)
        if len({values.get(key, _ABSENT) for values, scopes in runs if scope in scopes}) < 2:
            continue
        pattern = tuple(values.get(key, _ABSENT) for values, _ in runs)
        if pattern not in by_pattern or _column_rank(key) < _column_rank(by_pattern[pattern]):
            by_pattern[pattern] = key
    return sorted(by_pattern.values())


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
    """One line of the table: (method, dataset, ImageNet pretraining epochs, differing settings)."""

    method: str
    dataset: str
    epochs: Optional[int] = None  # pretraining epochs; set (and used) for ImageNet only
    paths: List[str] = field(default_factory=list)
    linear: Figure = field(default_factory=Figure)
    knn: Figure = field(default_factory=Figure)
    paper: Dict[str, Any] = field(default_factory=dict)  # paper_results.paper_numbers(...)
    settings: Dict[str, str] = field(default_factory=dict)  # differing setting -> value as shown
    settings_order: Tuple[SettingValue, ...] = ()  # the settings' values as sorted (numbers numerically)

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
        return (d, self.dataset, m, self.method, self.epochs is None, self.epochs or 0, self.settings_order)


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


def _by_method_dataset(results: List[Dict[str, Any]]) -> Dict[Tuple[str, str, Optional[int]], List[Dict[str, Any]]]:
    """Results by (method, dataset, ImageNet pretraining epochs or None)."""
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
    return groups


def _row(method: str, dataset: str, epochs: Optional[int], members: List[Dict[str, Any]],
         settings: Dict[str, SettingValue]) -> Row:
    """Merge ``members`` (the runs of one setting) into a row; ``settings``: its differing settings."""
    row = Row(method, dataset, epochs, paths=[str(r.get("_path", "?")) for r in members],
              paper=paper_numbers(method, dataset, epochs),
              settings={key: _setting_text(value) for key, value in settings.items() if value != _ABSENT},
              settings_order=tuple(settings.values()))
    for metric, stage in METRICS:
        staged = [r["final"][metric] for r in members
                  if r.get("stage") == stage and r["final"].get(metric) is not None]
        online = [r["final"][metric] for r in members
                  if r.get("stage", "pretrain") == "pretrain" and r["final"].get(metric) is not None]
        figure = row.figure(metric)
        figure.values = [float(v) for v in (staged or online)]
        figure.from_stage = bool(staged)
    return row


def _comparable_settings(results: Sequence[Dict[str, Any]]):
    """Per result: its settings as comparable values, and their scopes (what :func:`_setting_columns` takes)."""
    runs = []
    for result in results:
        values, scopes = run_settings(result)
        runs.append(({key: _setting_value(value) for key, value in values.items()}, scopes))
    return runs


def build_rows(results: Iterable[Dict[str, Any]]) -> List[Row]:
    """Group results into sorted rows: by (method, dataset) (ImageNet: and pretraining epochs) and
    the settings that differ between the runs of that (method, dataset) (see :func:`run_settings`).

    Runs left in one row differ only in seeds and ignored keys: their figures are averaged. Per
    metric, the figures of separate evaluation runs (``stage`` linear for ``linear_top1``, ``knn``
    for ``knn_top1``) take precedence over the online figures of pretraining runs: when a row has
    any, only those are averaged.
    """
    rows = []
    for (method, dataset, epochs), members in _by_method_dataset(list(results)).items():
        runs = _comparable_settings(members)
        columns = _setting_columns(runs)
        by_setting: Dict[Tuple[SettingValue, ...], List[Dict[str, Any]]] = {}
        for result, (values, _) in zip(members, runs):
            by_setting.setdefault(tuple(values.get(key, _ABSENT) for key in columns), []).append(result)
        rows += [_row(method, dataset, epochs, group, dict(zip(columns, setting)))
                 for setting, group in by_setting.items()]
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


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(rows: Sequence[Row]) -> str:
    """The reproduction table in Markdown, with its footnotes (ends with a newline).

    The settings that differ between runs (:func:`build_rows`) are extra columns after ``dataset``,
    headed by their dotted key; ``–`` where a row does not vary (or has no) such setting.
    """
    columns = sorted(set().union(*(row.settings for row in rows)))
    header = [*HEADER[:2], *map(_cell, columns), *HEADER[2:]]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = [row.method, row.label, *(_cell(row.settings.get(key, MISSING)) for key in columns), str(row.runs)]
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
    if columns:
        lines.append(
            "Setting columns (dotted configuration keys): the values that differ between runs of one method and "
            "dataset; for a linear / k-NN evaluation those of the pretraining run it evaluated, and its own linear.* / "
            f"knn.*. Runs differing only in seed, paths, logging or workers share a row. {MISSING}: not varied there.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# Curves (--plots)

#: the figures of ``--plots``: a history key of the online evaluation and what it measures
PLOT_METRICS = (
    ("knn_top1", "k-NN top-1 (%)"),
    ("analysis/embedding/effective_rank", "effective rank of the embedding"),
    ("analysis/whitened/stable_rank", "normalised stable rank of the whitened output"),
    ("analysis/whitened/negative_cosine", "negatives' cosine similarity, whitened output"),
)


def run_labels(results: Sequence[Dict[str, Any]]) -> Dict[str, str]:
    """A legend label per run: the settings in which the runs differ (``method.whiten=pca``, the same
    columns as the table), followed by the run's folder where that leaves two runs alike (seeds: the
    table averages them, the curves keep each); the folder alone when they differ in no setting."""
    settings = _comparable_settings(results)
    keys = _setting_columns(settings)
    by_settings = {}
    for result, (values, _) in zip(results, settings):
        by_settings[result["_path"]] = " ".join(f"{key}={_setting_text(values[key])}" for key in keys if key in values)
    shared = Counter(by_settings.values())
    labels = {}
    for path, label in by_settings.items():
        folder = Path(path).parent.name
        labels[path] = label if label and shared[label] == 1 else f"{label} ({folder})" if label else folder
    return labels


def curves(results: Sequence[Dict[str, Any]], metric: str,
           labels: Optional[Dict[str, str]] = None) -> Dict[str, List[Tuple[float, float]]]:
    """``{run label: [(epoch, value), ...]}`` of ``metric`` over the evaluation history of pretraining runs
    (``labels``: :func:`run_labels` of those runs, when already computed)."""
    pretraining = [r for r in results if r.get("stage", "pretrain") == "pretrain" and r.get("history")]
    labels = labels if labels is not None else run_labels(pretraining) if pretraining else {}
    out = {}
    for result in pretraining:
        points = [(float(h["epoch"]), float(h[metric])) for h in result["history"]
                  if isinstance(h.get(metric), (int, float)) and math.isfinite(h[metric])]
        if points:
            out[labels[result["_path"]]] = points
    return out


def write_plots(results: Sequence[Dict[str, Any]], folder: Union[str, os.PathLike]) -> Dict[str, str]:
    """One PNG per metric of :data:`PLOT_METRICS` with a curve per run, in ``folder``; returns their paths."""
    from .analysis.plots import plot_metric_curves, save_figure

    pretraining = [r for r in results if r.get("stage", "pretrain") == "pretrain" and r.get("history")]
    labels = run_labels(pretraining) if pretraining else {}
    written = {}
    for metric, title in PLOT_METRICS:
        runs = curves(pretraining, metric, labels)
        if not runs:
            continue
        figure = plot_metric_curves(runs, title)
        written[metric] = str(save_figure(figure, Path(folder) / (metric.replace("/", "_") + ".png")))
    return written


# --------------------------------------------------------------------------------------------------
# CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m whitening_ssl.report",
        description="Reproduction table: the results.json of runs (searched recursively) next to the paper's numbers.")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="a run or sweep directory (searched recursively) or a results.json file")
    parser.add_argument("--plots", action="store_true",
                        help="also draw one figure per metric (k-NN top-1, effective rank, stable rank, negatives' "
                             "cosine) with a curve per run against epoch, in PATH/plots/")
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
    if args.plots:
        folder = Path(args.paths[0] if Path(args.paths[0]).is_dir() else Path(args.paths[0]).parent) / "plots"
        for path in write_plots(results, folder).values():
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    main()
