"""Shared test helpers: compose the real Hydra configs."""

from pathlib import Path

from hydra import compose, initialize_config_dir

import whitening_ssl.methods  # noqa: F401 (the configuration's generated defaults, method/_defaults/*, as run.py has them)

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
# tiny, fast settings that keep each preset's whitening, views, batch and sub-batch sizes
TINY = ["dataset=synthetic", "backbone=resnet_tiny", "backbone.width=8", "method.head_size=256", "trainer=cpu",
        "logger=none", "eval.linear_epochs=2"]


def compose_config(overrides, run_dir=None, with_hydra=False):
    """The configuration ``python run.py <overrides>`` would run, with ``run_dir`` set (and with Hydra's own
    ``hydra`` node, e.g. a preset's sweep, when ``with_hydra``)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides) + ([f"run_dir={run_dir}"] if run_dir else []),
                       return_hydra_config=with_hydra)


def cli_env():
    """The environment of a ``run.py`` subprocess: this checkout's package, W&B off."""
    import os

    return {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(ROOT / "src")}


def run_cli(args, cwd, timeout=900):
    """``python run.py <args>`` in ``cwd``, to completion (``subprocess.CompletedProcess`` with text output)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, env=cli_env(), capture_output=True,
                          text=True, timeout=timeout)


def start_cli(args, cwd):
    """``python run.py <args>`` started in ``cwd`` (``subprocess.Popen``, text pipes)."""
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
