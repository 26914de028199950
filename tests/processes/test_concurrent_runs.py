"""run.py as real processes at the same time: two started at once, a second run or sweep on a folder a live one
holds. What the user finds afterwards is checked. (A file of its own beside test_run_processes.py, so that the two
test workers share the process tests.)"""

import json
import os
import signal
import time

import pytest
from helpers import TINY, run_cli_in_process, start_cli, wait_for

from whitening_ssl.checkpoints import read_meta
from whitening_ssl.run_folder.lock import LOCK_FILE, read_lock

pytestmark = pytest.mark.cli  # every test here starts run.py

SMOKE = ["debug=smoke", "backbone.width=8", "logger=none"]


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
    smoke = [*SMOKE, "eval.enabled=false", "analysis.every_n_steps=0"]
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
        wait_for(lambda: any(sweep.glob("1_*/.hydra/overrides.yaml")), first, timeout=300)  # job 0 has finished
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
