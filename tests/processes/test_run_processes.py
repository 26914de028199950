"""run.py as real processes: killed with SIGKILL and resumed, stopped by SIGTERM, two started at once, a
second one on a folder a live run holds. What the user finds afterwards is checked."""

import json
import os
import signal
import time

import pytest
import torch
from helpers import TINY, run_cli, run_cli_in_process, start_cli

from whitening_ssl.checkpoints import read_meta
from whitening_ssl.run_folder.lock import LOCK_FILE, read_lock

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


def _wait_for(condition, process, timeout=600.0, poll=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"process ended early ({process.returncode}): {process.stderr.read()[-3000:]}")
        time.sleep(poll)
    raise AssertionError("timed out")


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
    _wait_for(lambda: read_meta(killed / "checkpoints").get("epochs_completed") == 1, process)
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
    _wait_for(lambda: read_meta(run_dir / "checkpoints").get("epochs_completed") == 1, process)
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


def test_two_runs_started_at_once_get_two_directories(tmp_path):
    args = ["debug=fdr", *TINY, "data.batch_size=64", "eval.linear_epochs=0", "analysis.at_evaluation=false"]
    processes = [start_cli(args, cwd=tmp_path, threads=1) for _ in range(2)]
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
    results = sorted((tmp_path / "outputs").glob("*/*/results.json"))
    assert len(results) == 2
    for path in results:
        data = json.loads(path.read_text())
        assert data["run_dir"] == str(path.parent) and data["final"]["knn_top1"] is not None
        log = (path.parent / "run.log").read_text()  # run.log is written, not left empty
        assert "results:" in log and str(path) in log


def test_a_second_run_on_the_same_folder_stops_at_once_and_changes_nothing(tmp_path):
    smoke = [*SMOKE, "dataset.options.num_samples=128", "eval.enabled=false", "analysis.every_n_steps=0"]
    run_dir = tmp_path / "run"
    first = start_cli([*smoke, "epochs=50", "seed=7", f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 300
        while read_meta(run_dir / "checkpoints").get("epochs_completed") is None:
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()[-2000:]
            time.sleep(0.1)
        overrides = (run_dir / ".hydra" / "overrides.yaml").read_text()
        second = run_cli_in_process(
            [*smoke, "epochs=50", "seed=7", "ckpt_path=last", f"hydra.run.dir={run_dir}"], cwd=tmp_path
        )
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [
            f"error: the run folder {run_dir} is in use by another run (process {first.pid} on "
            f"{os.uname().nodename}, started {read_lock(run_dir)['started']}): wait for it to finish, or choose another "
            f"hydra.run.dir (if that run is gone, delete {run_dir / LOCK_FILE})"
        ]
        assert (run_dir / ".hydra" / "overrides.yaml").read_text() == overrides  # the first run's, untouched
    finally:
        first.send_signal(signal.SIGINT)  # Ctrl-C is taken as SIGTERM (issue 23.5: it saved nothing, exit 1)
        _, stderr = first.communicate(timeout=120)
    meta = read_meta(run_dir / "checkpoints")
    assert first.returncode == 130 and not (run_dir / LOCK_FILE).exists(), stderr[-3000:]
    assert meta["reason"] == "sigterm" and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        f"error: stopped by Ctrl-C (SIGINT) at step {meta['global_step']}; checkpoint saved: {run_dir / 'checkpoints' / 'last.ckpt'}; "
        f"resume with ckpt_path=last hydra.run.dir={run_dir} (and the same other arguments)"
    )


def test_a_sweep_into_a_live_sweeps_folder_writes_nothing_there(tmp_path):
    """Issue 23.2: a second sweep on a folder another sweep is filling wrote its .hydra over the live job's folder
    and took over the finished job's. Now every job's folder is looked at before anything is written."""
    sweep = tmp_path / "sweep"
    smoke = [*SMOKE, "eval.enabled=false", "analysis.every_n_steps=0"]
    first = start_cli(["-m", "epochs=1,50", *smoke, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    try:
        _wait_for(lambda: any(sweep.glob("1_*/.hydra/overrides.yaml")), first, timeout=300)  # job 0 has finished
        finished, live = sorted(sweep.glob("0_*"))[0], sorted(sweep.glob("1_*"))[0]
        kept = {path: path.read_bytes() for path in [*finished.rglob("*"), *live.glob(".hydra/*")] if path.is_file()}
        second = run_cli_in_process(["-m", "epochs=1,50", *smoke, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert lines[0].endswith(
            f"{finished} already holds a run (results.json, checkpoints): resume it with "
            f"ckpt_path=last hydra.run.dir={finished}, or choose another hydra.sweep.dir"
        )
        assert (
            lines[1].startswith("error: job #1 (epochs=50 ")
            and f"the run folder {live} is in use by another run (process {first.pid} on " in lines[1]
        )
        assert lines[2:] == ["error: no job was started: fix the 2 job(s) above (of 2)"]
        assert {path: path.read_bytes() for path in kept} == kept
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert first.returncode == 143
