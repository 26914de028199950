"""What ``run.py`` does before a run starts: the dry run's summary and Hydra's own errors as one line.

- :func:`summary` is what ``check=true`` prints after every check passed: the run folder and the
  settings that define the run, so a configuration can be checked without running it.
- :func:`one_line_hydra_errors` makes Hydra's composition errors (an unknown option of a config
  group, ``method=nope``; an unknown key, ``method.whitn=zca``; a malformed override) end like every
  other bad input: one ``error:`` line that says what to change, exit status 2.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ..config_values import plain_dict, plain_list
from .conf_text import conf_dir, config_groups

EXIT_BAD_INPUT = 2


def _get(cfg: DictConfig, key: str, default: Any = "?") -> Any:
    value = OmegaConf.select(cfg, key, default=default, throw_on_missing=False)
    return default if value is None and default != "?" else value


def _dataset_line(cfg: DictConfig) -> str:
    from ..data import DATASETS

    name, root = _get(cfg, "dataset.name"), _get(cfg, "dataset.root")
    entry = DATASETS.get(name)
    where = f"{Path(str(root)).absolute()}"
    if entry is None or OmegaConf.is_missing(cfg.dataset, "root"):
        return f"{name} in {where}"
    from ..data import parse

    try:
        entry, options = parse(name, plain_dict(cfg.dataset.options) or {})
        present = entry.locate(Path(str(root)), options) is None
    except (ValueError, OSError):
        present = False
    state = "present" if present else "will be downloaded" if entry.downloadable and cfg.dataset.download else "missing"
    return f"{name} in {where} ({state})"


def summary(cfg: DictConfig, run_dir: Path | None) -> list[str]:
    """The lines ``check=true`` prints for a configuration that passed every check."""
    stage = cfg.stage
    lines = [f"checked: no problem found in the configuration (stage={stage})"]
    if stage == "pretrain":
        method = cfg.method
        sub_batches = f", w_size {method.w_size}" if "w_size" in method else ""  # INTL whitens the whole batch
        whitening = (
            f", whitening {method.whiten} on the {method.axis} axis, {method.groups} group(s){sub_batches}"
            if "whiten" in method
            else ""
        )
        lines += [
            f"  method:   {method.name} (family {method.family}{whitening})",
            f"  dataset:  {_dataset_line(cfg)}",
            f"  backbone: {cfg.backbone.name}, embedding {method.emb}",
            f"  data:     batch {cfg.data.batch_size} x {cfg.data.num_views} views per process, "
            f"{cfg.epochs} epochs, pipeline {cfg.data.pipeline}",
            f"  resume:   {cfg.ckpt_path}" if cfg.get("ckpt_path") else "  resume:   no (a fresh run)",
        ]
    else:
        lines += [
            f"  checkpoint: {cfg.get('ckpt')}",
            "  dataset:    the checkpoint's"
            if cfg.get("dataset_from_ckpt", True)
            else f"  dataset:    {_dataset_line(cfg)}",
        ]
    trainer = cfg.trainer
    lines += [
        f"  trainer:  accelerator {trainer.get('accelerator')}, devices {trainer.get('devices')}, precision "
        f"{trainer.get('precision')}; logger {cfg.logger.get('kind')}"
    ]
    if run_dir is not None:
        lines.append(f"  run folder: {run_dir} (not created: check=true runs nothing)")
    return lines


def sweep_jobs(config: DictConfig) -> list[tuple[list[str], Callable[[], DictConfig]]]:
    """Every job of a ``-m`` sweep, before any starts: ``(its overrides, a function that composes its
    configuration)``. The sweep is a preset's ``hydra.sweeper.params`` (``experiment=investigate/...``) and
    the command line's, expanded as Hydra's basic sweeper does."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    loader = GlobalHydra.instance().config_loader()
    parser = OverridesParser.create(config_loader=loader)
    params = config.hydra.sweeper.get("params")
    arguments = [f"{key}={value}" for key, value in (params or {}).items()]
    arguments += plain_list(config.hydra.overrides.task)
    overrides = parser.parse_overrides(overrides=arguments)
    jobs = [list(job) for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
    return [(job, partial(loader.load_sweep_config, config, job)) for job in jobs]


# --- Hydra's composition errors ----------------------------------------------------------------------


def hydra_error_line(error: BaseException) -> str:
    """One line for a Hydra composition error that says what to change."""
    message = " ".join(str(error).split())
    missing = re.search(r"Could not find '([^']+)'", message)
    if missing and "/" in missing.group(1):
        groups = config_groups(conf_dir())
        group, _, option = missing.group(1).partition("/")
        choices = groups.get(group, [])
        near = difflib.get_close_matches(option, choices, n=1)
        hint = f" (did you mean {group}={near[0]}?)" if near else ""
        return f"{group}={option} is not available{hint}: use one of {', '.join(choices)}"
    unknown = re.search(r"Could not override '([^']+)'", message)
    if unknown:
        key = unknown.group(1)
        parent = key.rpartition(".")[0]
        return (
            f"{key} is not a setting{f' of {parent}' if parent else ''}: check the spelling (python run.py --help "
            f"lists the settings), or add a new key on purpose with +{key}=..."
        )
    return message.split(" Set the environment variable HYDRA_FULL_ERROR")[0]


#: flags after which Hydra prints and exits (help, a configuration, shell completion): nothing is run
PRINT_ONLY_FLAGS = ("--help", "-h", "--hydra-help", "--info", "-i", "--cfg", "-c", "--shell-completion", "-sc")


def runs_nothing(args: list[str]) -> bool:
    """Whether ``run.py args`` only prints (``--help``, ``--cfg job``) or checks (``check=true``)."""
    return any(arg in PRINT_ONLY_FLAGS or arg.split("=")[0] in PRINT_ONLY_FLAGS for arg in args) or any(
        arg.lower() in ("check=true", "+check=true", "check=1") for arg in args
    )


def multirun_after_overrides(arguments: list[str]) -> None:
    """``-m`` written between overrides (``python run.py a=1 -m b=2``): argparse would only say "unrecognized
    arguments"; one line that shows the command with ``-m`` first, exit 2."""
    flags = [i for i, argument in enumerate(arguments) if argument in ("-m", "--multirun")]
    if not flags:
        return
    before = [a for a in arguments[: flags[0]] if not a.startswith("-")]
    after = [a for a in arguments[flags[0] + 1 :] if not a.startswith("-")]
    if before and after:
        rest = [a for i, a in enumerate(arguments) if i not in flags]
        print(
            f"error: -m (--multirun) must come before the overrides: python run.py -m {' '.join(rest)}", file=sys.stderr
        )
        sys.exit(EXIT_BAD_INPUT)


def one_line_hydra_errors() -> None:
    """Install the one-line handling of Hydra's composition errors (``run.py`` calls it before ``hydra.main``).

    Hydra reports them through ``hydra._internal.utils.run_and_report`` (several lines, exit 1); this
    wraps that function: composition errors become one ``error:`` line and exit 2, everything else
    (this project's own errors are handled inside the run) goes through Hydra's handler unchanged.
    """
    from hydra._internal import utils as hydra_utils
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

    multirun_after_overrides(sys.argv[1:])
    original = hydra_utils.run_and_report
    if getattr(original, "one_line", False):
        return
    composition = (ConfigCompositionException, MissingConfigException, OverrideParseException)

    def run_and_report(func):
        def guarded():
            try:
                return func()
            except composition as error:
                print(f"error: {hydra_error_line(error)}", file=sys.stderr)
                sys.exit(EXIT_BAD_INPUT)

        return original(guarded)

    run_and_report.one_line = True  # type: ignore[attr-defined]  # a mark on the function Hydra calls
    hydra_utils.run_and_report = run_and_report
