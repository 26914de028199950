"""Shared test helpers: compose the real Hydra configs."""

from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
# tiny, fast settings that keep each preset's whitening, views, batch and sub-batch sizes
TINY = [
    "dataset=synthetic",
    "backbone=resnet_tiny",
    "backbone.width=8",
    "method.head_size=256",
    "trainer=cpu",
    "logger=none",
    "eval.linear_epochs=2",
]
# TINY with a ViT of 2 blocks of width 32 (2 heads) and 4-px patches (timm's ViT-Tiny, scaled down)
TINY_VIT_BACKBONE = ["backbone=vit_tiny", "backbone.model_args={depth:2,embed_dim:32,num_heads:2}"]
TINY_VIT = [o for o in TINY if not o.startswith("backbone")] + TINY_VIT_BACKBONE


def compose_config(overrides, run_dir=None, with_hydra=False):
    """The configuration ``python run.py <overrides>`` would run, with ``run_dir`` set (and with Hydra's own
    ``hydra`` node, e.g. a preset's sweep, when ``with_hydra``)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            config_name="config",
            overrides=list(overrides) + ([f"run_dir={run_dir}"] if run_dir else []),
            return_hydra_config=with_hydra,
        )


def cli_env(threads=None):
    """The environment of a ``run.py`` subprocess: this checkout's package, W&B off; ``threads``: the
    process's CPU threads (1 when several processes share the cores)."""
    import os

    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(ROOT / "src")}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def run_cli(args, cwd, timeout=900, threads=None):
    """``python run.py <args>`` in ``cwd``, to completion (``subprocess.CompletedProcess`` with text output)."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *map(str, args)],
        cwd=cwd,
        env=cli_env(threads),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(args, cwd, threads=None):
    """``python run.py <args>`` started in ``cwd`` (``subprocess.Popen``, text pipes)."""
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), *map(str, args)],
        cwd=cwd,
        env=cli_env(threads),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, process, timeout=600.0, poll=0.02):
    """Return once ``condition()`` holds; fail if the ``subprocess.Popen`` ``process`` ends first (with its
    standard error) or ``timeout`` seconds pass."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"process ended early ({process.returncode}): {process.stderr.read()[-3000:]}")
        time.sleep(poll)
    raise AssertionError("timed out")


def run_cli_in_process(args, cwd):
    """``python run.py <args>`` run in this process from ``cwd``: the same parsing, Hydra callbacks, checks,
    messages and exit status as the command, without a new interpreter (for tests of what the command
    prints and which folders it makes; kill, signal, concurrency and DDP tests start real processes).
    Returns a ``subprocess.CompletedProcess`` with the exit status and the text printed."""
    import contextlib
    import io
    import logging
    import os
    import runpy
    import subprocess
    import sys

    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    argv, directory = sys.argv, os.getcwd()
    loggers = [logging.root] + [v for v in logging.root.manager.loggerDict.values() if isinstance(v, logging.Logger)]
    states = {logger: (logger.disabled, logger.level, logger.propagate, list(logger.handlers)) for logger in loggers}
    out, err = io.StringIO(), io.StringIO()
    code = 0
    sys.argv = [str(ROOT / "run.py"), *map(str, args)]
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(str(ROOT / "run.py"), run_name="__main__")
    except SystemExit as stopped:
        code = stopped.code if isinstance(stopped.code, int) else (0 if stopped.code is None else 1)
    finally:
        sys.argv = argv
        os.chdir(directory)
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None  # the finished run's Hydra node: not the next test's
        for logger, (disabled, level, propagate, handlers) in states.items():  # as before Hydra's logging setup
            for handler in [h for h in logger.handlers if h not in handlers]:  # run.log, the console
                logger.removeHandler(handler)
                handler.close()
            logger.disabled, logger.propagate = disabled, propagate
            logger.setLevel(level)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
