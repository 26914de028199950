"""``python -m whitening_ssl.report PATH [PATH ...] [--plots] [--output FILE]``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from .collect import collect_results
from .figures import write_plots
from .rows import build_rows
from .table import markdown_table

REPORT_FILE = "reproduction.md"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m whitening_ssl.report",
        description="Reproduction table: the results.json of runs (searched recursively) next to the paper's numbers.")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="a run or sweep directory (searched recursively) or a results.json file")
    parser.add_argument("--plots", action="store_true",
                        help="also draw one figure per metric (k-NN and linear top-1, effective rank, stable rank, "
                             "negatives' cosine) with a curve per run against epoch, in PATH/plots/")
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
        written = write_plots(results, folder)
        for path in written.values():
            print(f"wrote {path}", file=sys.stderr)
        if not written:
            print("--plots: nothing to plot (the figures are curves of pretraining runs' evaluations, results.json "
                  "'history'; these results have none): no figure written", file=sys.stderr)
    return 0
