"""A sweep of DDP runs (gloo, 2 processes per job on the CPU): each job in its own folder, with its own
configuration in both of its processes."""

import json

import pytest
from helpers import run_cli

pytestmark = pytest.mark.cli  # starts run.py

DDP = ["trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp", "trainer.sync_batchnorm=false"]


def test_ddp_sweep_runs_each_job_in_its_own_folder(tmp_path):
    # the two jobs have different head sizes: a second process running the other job's configuration
    # would make DDP fail on mismatched parameter shapes
    proc = run_cli(
        [
            "-m",
            "method.emb=128,256",
            "debug=fdr",
            "dataset=synthetic",
            "backbone=resnet_tiny",
            "backbone.width=8",
            "method.head_size=64",
            "method.w_size=16",
            "data.batch_size=64",  # per process (the preset's 256 x 4 views: a longer CPU augmentation, nothing more)
            "logger=none",
            "eval.linear_epochs=0",
            "analysis.at_evaluation=false",
            *DDP,
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]  # no phantom outputs/ or multirun/ folder
    jobs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert jobs == ["0_cw_rgp4_synthetic", "1_cw_rgp4_synthetic"]
    embs = [
        json.loads((tmp_path / "sweep" / job / "results.json").read_text())["config"]["method"]["emb"] for job in jobs
    ]
    assert embs == [128, 256]
    logs = sorted(p.name for p in (tmp_path / "sweep").rglob("*.log"))
    assert logs == ["run.log", "run.log"]  # the second processes write no empty log files
