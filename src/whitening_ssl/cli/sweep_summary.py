"""What a sweep whose jobs ran in processes of their own prints when it ends (``hydra/launcher=submitit_*``).

Hydra's basic launcher runs the jobs of ``-m`` in the launching process, so each job's summary table and
``results:`` line appear there. A submitit launcher (``submitit_local``, ``submitit_slurm``) runs each job
in a process of its own whose output goes to ``<sweep>/.submitit/<job id>/``: :func:`print_sweep_summary`
prints the same table and path for every job from its ``results.json``, in job order, in the launching
process; a job without one is named with where its log is.

``submitit_local``'s job controller also makes an empty folder literally named ``.submitit/%j`` (it
creates the launcher's ``submitit_folder`` before replacing ``%j`` by the job id; SLURM's does not):
:func:`remove_unformatted_folder` removes it when empty.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ..config_values import plain_list
from ..run_folder import RESULTS_FILE
from ..stages.common import format_summary

SUBMITIT_FOLDER = ".submitit"


def jobs_ran_elsewhere(config: DictConfig) -> bool:
    """Whether the sweep's jobs ran in processes of their own (any launcher but Hydra's basic one)."""
    target = str(OmegaConf.select(config, "hydra.launcher._target_", default="") or "")
    return bool(target) and not target.endswith(".BasicLauncher")


def _job_folders(sweep_dir: Path) -> list[Path]:
    """The sweep's job folders (``<num>_<label>``, each with ``.hydra/``), in job order."""
    folders = [path.parent.parent for path in sweep_dir.glob("*/.hydra/overrides.yaml")]

    def number(folder: Path) -> int:
        head = folder.name.split("_", 1)[0]
        return int(head) if head.isdigit() else 1 << 30

    return sorted(folders, key=lambda folder: (number(folder), folder.name))


def summary_lines(sweep_dir: Path) -> list[str]:
    """Per job: ``job #N (overrides):``, the figures' table and ``results: <path>`` (or where its log is)."""
    lines = []
    for folder in _job_folders(sweep_dir):
        overrides = " ".join(plain_list(OmegaConf.load(folder / ".hydra" / "overrides.yaml")))
        lines.append(f"job #{folder.name.split('_', 1)[0]} ({overrides}):")
        results = folder / RESULTS_FILE
        if results.is_file():
            lines += [*format_summary(json.loads(results.read_text())).splitlines(), f"results: {results}"]
        else:
            lines.append(f"no {RESULTS_FILE}: the job's output is in {sweep_dir / SUBMITIT_FOLDER}/<job id>/")
    return lines


def remove_unformatted_folder(sweep_dir: Path) -> None:
    """Remove the empty ``.submitit/%j`` folder submitit's local launcher leaves in the sweep folder."""
    folder = sweep_dir / SUBMITIT_FOLDER / "%j"
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def print_sweep_summary(config: DictConfig) -> None:
    """After a sweep whose jobs ran elsewhere: each job's figures and results path, as the basic launcher shows."""
    if not jobs_ran_elsewhere(config):
        return
    sweep_dir = Path(str(OmegaConf.select(config, "hydra.sweep.dir"))).absolute()
    remove_unformatted_folder(sweep_dir)
    lines = summary_lines(sweep_dir)
    print("\n".join([*lines, f"sweep: {sweep_dir} (the jobs' own output: {sweep_dir / SUBMITIT_FOLDER}/)"]), flush=True)
