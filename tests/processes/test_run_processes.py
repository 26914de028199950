"""run.py as real processes: killed with SIGKILL and resumed, stopped by SIGTERM (two started at once, a second
one on a folder a live run holds: test_concurrent_runs.py). What the user finds afterwards is checked."""

import json
import signal
import time

import pytest
import torch
from helpers import run_cli, start_cli, wait_for

from whitening_ssl.checkpoints import read_meta

pytestmark = pytest.mark.cli  # every test here starts run.py

SMOKE = ["debug=smoke", "backbone.width=8", "logger=none"]
# 256 synthetic images, batch 64: 4 steps per epoch; k-NN and a 2-epoch probe after each epoch, no figures
DETERMINISTIC = [
    *SMOKE,
    "dataset.options.num_samples=256",
    "trainer.deterministic=true",
    "eval.every_n_epochs=1",
    "eval.linear_epochs=2",
    "analysis.at_evaluation=false",
    "logger=csv",
]


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def _probe_state(path):
    """The online probe's weights in a checkpoint, read as a resume reads it (weights_only)."""
    callbacks = torch.load(path, map_location="cpu", weights_only=True)["callbacks"]
    (state,) = [value for key, value in callbacks.items() if "OnlineProbe" in key]
    return state["classifier"]


def _lr_by_step(csv_path):
    import csv

    with open(csv_path) as handle:
        return {int(row["step"]): float(row["lr-Adam"]) for row in csv.DictReader(handle) if row.get("lr-Adam")}


def test_kill_9_in_epoch_k_resumes_exactly(tmp_path):
    """SIGKILL during epoch 2 of 3; `ckpt_path=last` continues from the end of epoch 1 with the same learning
    rate at every step and, deterministic on CPU, ends with the uninterrupted run's weights."""
    args = [*DETERMINISTIC, "epochs=3"]
    reference = tmp_path / "uninterrupted"
    killed = tmp_path / "killed"
    uninterrupted = start_cli([*args, f"hydra.run.dir={reference}"], cwd=tmp_path, threads=1)
    process = start_cli([*args, f"hydra.run.dir={killed}"], cwd=tmp_path, threads=1)  # both at once: 2 cores
    wait_for(lambda: read_meta(killed / "checkpoints").get("epochs_completed") == 1, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert read_meta(killed / "checkpoints")["epochs_completed"] == 1  # killed inside epoch 2 (or its evaluation)
    assert not (killed / "results.json").exists()
    assert uninterrupted.wait(timeout=600) == 0, uninterrupted.stderr.read()[-3000:]

    resumed = run_cli([*args, "ckpt_path=last", f"hydra.run.dir={killed}"], cwd=tmp_path, threads=1)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {killed / 'checkpoints' / 'last.ckpt'}" in resumed.stdout
    results = json.loads((killed / "results.json").read_text())
    assert results["epochs"] == 3 and results["global_step"] == 12
    assert [h["epoch"] for h in results["history"]] == [1, 2, 3]  # the evaluation history survived

    expected, got = _weights(reference / "checkpoints" / "last.ckpt"), _weights(killed / "checkpoints" / "last.ckpt")
    assert set(expected) == set(got) and all(torch.equal(expected[k], got[k]) for k in expected)
    expected_probe, got_probe = (_probe_state(run / "checkpoints" / "last.ckpt") for run in (reference, killed))
    assert all(torch.equal(expected_probe[k], got_probe[k]) for k in ("weight", "bias"))  # the online probe resumed
    seconds = [h["seconds"] for h in results["history"]]
    assert seconds == sorted(seconds) and seconds[0] > 0  # the clock carried over the resume
    assert all(0 <= h["online_probe_top1"] <= 100 for h in results["history"])
    reference_lr = _lr_by_step(reference / "csv" / "metrics.csv")
    resumed_lr = _lr_by_step(killed / "csv" / "resume_1" / "metrics.csv")  # the first attempt's log is kept
    assert (killed / "csv" / "metrics.csv").exists()
    assert sorted(resumed_lr) == list(range(4, 12))
    assert all(resumed_lr[step] == reference_lr[step] for step in resumed_lr)


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    run_dir = tmp_path / "run"
    process = start_cli([*SMOKE, "epochs=50", "eval.enabled=false", f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    wait_for(lambda: read_meta(run_dir / "checkpoints").get("epochs_completed") == 1, process)
    time.sleep(0.5)  # a few steps into epoch 2
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143
    meta = read_meta(run_dir / "checkpoints")
    assert meta["reason"] == "sigterm" and meta["global_step"] > 8
    last_line = stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"error: stopped by SIGTERM at step {meta['global_step']}; checkpoint saved: ")
    assert "Traceback" not in stderr
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["global_step"] == meta["global_step"]
