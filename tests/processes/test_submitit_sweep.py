"""A sweep on submitit's local launcher (each job a process of its own, as on SLURM): the launching command
prints every job's figures and results path, as a plain ``-m`` sweep does, and leaves no ``.submitit/%j``."""

import pytest
from helpers import run_cli

pytestmark = [pytest.mark.cli, pytest.mark.slow]  # three processes that each import torch: about a minute

TINY_JOB = [
    "debug=fdr",
    "backbone.width=8",
    "trainer=cpu",
    "method.head_size=64",
    "method.w_size=16",
    "eval.linear_epochs=0",
    "analysis.at_evaluation=false",
    "analysis.every_n_steps=0",
]


def test_a_submitit_local_sweep_prints_each_jobs_table_and_results_path(tmp_path):
    proc = run_cli(["-m", "hydra/launcher=submitit_local", *TINY_JOB, "method.emb=128,256"], cwd=tmp_path, threads=1)
    assert proc.returncode == 0, proc.stderr[-4000:]
    sweeps = list((tmp_path / "multirun").glob("*/*"))
    assert len(sweeps) == 1, sweeps  # both jobs in the one sweep folder the launcher chose
    sweep = sweeps[0]
    lines = proc.stdout.splitlines()
    for number, emb in enumerate((128, 256)):
        start = lines.index(next(line for line in lines if line.startswith(f"job #{number} (")))
        assert f"method.emb={emb}" in lines[start]
        assert lines[start + 1].split() == ["metric", "trained"] and lines[start + 2].startswith("knn_top1 ")
        assert lines[start + 3] == f"results: {sweep / f'{number}_cw_rgp4_synthetic' / 'results.json'}"
    assert lines[-1] == f"sweep: {sweep} (the jobs' own output: {sweep / '.submitit'}/)"
    assert not (sweep / ".submitit" / "%j").exists()
    assert len(list((sweep / ".submitit").glob("*/*_log.out"))) == 2
