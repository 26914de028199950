"""``python -m whitening_ssl.report PATH [PATH ...] [--plots] [--output FILE]``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .collect import collect_results
from .figures import run_labels, training_runs, write_plots
from .rows import build_rows
from .table import markdown_table
from .time_to import parse_threshold, time_to_lines

REPORT_FILE = "reproduction.md"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m whitening_ssl.report",
        description="Reproduction table: the results.json of runs (searched recursively) next to the paper's numbers.",
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a run or sweep directory (searched recursively) or a results.json file",
    )
    parser.add_argument(
        "--plots",
        action="store_true",
        help="also draw one figure per metric (k-NN and linear top-1, effective rank, stable rank, "
        "negatives' cosine) with a curve per run against epoch, in PATH/plots/",
    )
    parser.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the table here (default: PATH/reproduction.md when one directory is given)",
    )
    parser.add_argument(
        "--time-to",
        action="append",
        default=[],
        type=parse_threshold,
        metavar="METRIC=VALUE",
        help="print when each pretraining run's online evaluation first reached METRIC >= VALUE "
        "(wall time, training time, device-hours, epoch), e.g. --time-to knn_top1=75; repeatable",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
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
        missing = [path for path in args.paths if not os.path.exists(path)]
        if missing:
            print(
                f"error: {' '.join(missing)} does not exist: give a run folder, or the folder that holds runs "
                "(outputs, multirun)",
                file=sys.stderr,
            )
        else:
            print(
                f"error: no results.json with figures under {' '.join(args.paths)}: its runs have not finished an "
                "evaluation; run python run.py ... first (pretraining, or stage=linear / stage=knn ckpt=...)",
                file=sys.stderr,
            )
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
    if args.time_to:
        runs = training_runs(results)
        print("\n".join(time_to_lines(runs, args.time_to, run_labels(runs))))
    if args.plots:
        folder = Path(args.paths[0] if Path(args.paths[0]).is_dir() else Path(args.paths[0]).parent) / "plots"
        written = write_plots(results, folder)
        for path in written.values():
            print(f"wrote {path}", file=sys.stderr)
        if not written:
            print(
                "--plots: nothing to plot (the figures are curves of pretraining runs' evaluations, results.json "
                "'history'; these results have none): no figure written",
                file=sys.stderr,
            )
    return 0
