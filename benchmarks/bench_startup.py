"""Start-up cost of the commands that run nothing: ``--help`` and the pre-run check (``check=true``).

    python benchmarks/bench_startup.py [--repeats 5] [--checkout PATH]

Runs each command ``--repeats`` times as a fresh process and prints its CPU seconds (user + system of the
child process: what it costs, nearly the same on a busy shared machine) and wall seconds, min and median.
``--checkout``: time another checkout of the project (e.g. a ``git worktree`` of an older commit) with its
own sources. A script, not a test: no test is timed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "--help": ["--help"],
    "method=intl --help": ["method=intl", "--help"],
    "check=true experiment=quickstart": ["check=true", "experiment=quickstart"],
    "check=true dataset=synthetic method=intl": ["check=true", "dataset=synthetic", "method=intl"],
    "-m check=true (2 jobs)": ["-m", "check=true", "dataset=synthetic", "method=w_mse4,cw_rgp4"],
}


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(checkout: Path, arguments: list[str]) -> tuple[float, float]:
    """``(cpu seconds, wall seconds)`` of one ``python run.py <arguments>`` in ``checkout``."""
    env = {**os.environ, "PYTHONPATH": str(checkout / "src"), "WANDB_MODE": "disabled"}
    cpu, wall = _child_cpu(), time.perf_counter()
    done = subprocess.run([sys.executable, "run.py", *arguments], cwd=checkout, env=env, capture_output=True, text=True)
    cpu, wall = _child_cpu() - cpu, time.perf_counter() - wall
    if done.returncode != 0:
        raise SystemExit(f"python run.py {' '.join(arguments)} exited {done.returncode}: {done.stderr[-500:]}")
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    print(f"{'command':44s} {'CPU s min':>9s} {'median':>7s} {'wall s min':>10s} {'median':>7s}")
    for name, arguments in COMMANDS.items():
        runs = [time_command(args.checkout.resolve(), arguments) for _ in range(args.repeats)]
        cpu, wall = [r[0] for r in runs], [r[1] for r in runs]
        print(
            f"{name:44s} {min(cpu):9.2f} {statistics.median(cpu):7.2f} {min(wall):10.2f} {statistics.median(wall):7.2f}"
        )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
