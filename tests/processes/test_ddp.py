"""DDP on the CPU (gloo, 2 processes): the figures equal one process's on the same data, written once.

Each test starts ``run.py`` (Lightning re-runs the script for the second process); the one-process
references run in this process.
"""

import json

import pytest
import torch
from helpers import compose_config, run_cli

from whitening_ssl.checkpoints import load_encoder
from whitening_ssl.stages import run

pytestmark = pytest.mark.cli  # every test here starts run.py

DDP = ["trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp", "trainer.sync_batchnorm=false"]
ONE = ["trainer=cpu"]
SMOKE = ["debug=smoke", "backbone.width=8", "logger=none"]


def _cli(args, cwd):
    proc = run_cli(args, cwd)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def _results(run_dir):
    return json.loads((run_dir / "results.json").read_text())


@pytest.fixture(scope="module")
def ddp_pretraining(tmp_path_factory):
    """One epoch of DDP pretraining (2 x 64 images per step) with the online evaluation."""
    root = tmp_path_factory.mktemp("ddp")
    _cli([*SMOKE, *DDP, "epochs=1", "eval.linear_epochs=5", f"hydra.run.dir={root / 'pretrain'}"], cwd=root)
    return root


def test_ddp_pretraining_steps_over_the_global_batch_and_evaluates_once(ddp_pretraining):
    results = _results(ddp_pretraining / "pretrain")
    assert results["global_step"] == 512 // (2 * 64)  # each process takes its part of the 512 images
    assert len(results["history"]) == 1
    # one writer: no per-process logs or results anywhere else
    files = sorted(
        str(p.relative_to(ddp_pretraining))
        for p in ddp_pretraining.rglob("*")
        if p.is_file() and ".hydra" not in p.parts
    )
    figures = [
        f"pretrain/analysis/epoch0001_{name}.png"
        for name in ("cosine_backbone", "cosine_embedding", "cosine_whitened", "spectra")
    ]
    assert files == [
        *figures,
        "pretrain/checkpoints/last.ckpt",
        "pretrain/checkpoints/meta.json",
        "pretrain/results.json",
        "pretrain/run.log",
    ]


@pytest.mark.parametrize(
    "stage,extra,metric", [("knn", [], "knn_top1"), ("linear", ["linear.epochs=5"], "linear_top1")]
)
def test_evaluation_stages_give_the_single_process_figures(ddp_pretraining, stage, extra, metric):
    ckpt = ddp_pretraining / "pretrain" / "checkpoints" / "last.ckpt"
    figures = {}
    for name, trainer in (("one", ONE), ("two", DDP)):
        run_dir = ddp_pretraining / f"{stage}_{name}"
        args = [f"stage={stage}", f"ckpt={ckpt}", "logger=none", *trainer, *extra]
        if name == "one":  # the reference: one process, this one
            run(compose_config(args, run_dir=run_dir))
        else:
            _cli([*args, f"hydra.run.dir={run_dir}"], cwd=ddp_pretraining)
        results = _results(run_dir)
        assert results["num_test"] == 256  # every test image once: no padding, no duplicates
        figures[name] = results["final"][metric]
    assert figures["one"] == figures["two"]
    # the online evaluation of the DDP run embedded its shares the same way: the same figure again
    online = _results(ddp_pretraining / "pretrain")["final"][metric]
    assert online == figures["one"]


def test_standard_protocol_under_ddp_counts_every_test_image_once(ddp_pretraining):
    ckpt = ddp_pretraining / "pretrain" / "checkpoints" / "last.ckpt"
    run_dir = ddp_pretraining / "standard"
    _cli(
        [
            "stage=linear",
            f"ckpt={ckpt}",
            "logger=none",
            *DDP,
            "linear.protocol=standard",
            "linear.epochs=1",
            "linear.batch_size=32",
            "linear.crop_size=32",
            "linear.resize=32",
            "linear.optimizer=sgd",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=ddp_pretraining,
    )
    results = _results(run_dir)
    # the reported top-1 is the saved classifier's accuracy on the test images, each counted once
    encoder = load_encoder(ckpt)
    saved = torch.load(run_dir / "linear_classifier.pt", map_location="cpu", weights_only=False)
    classifier = torch.nn.Linear(saved["feature_dim"], saved["num_classes"])
    classifier.load_state_dict(saved["state_dict"])
    from whitening_ssl.data import TransformedDataset, build_datasets, linear_eval_transform

    splits = build_datasets("synthetic", splits=("test",), num_samples=512, num_test=256, image_size=32, num_classes=10)
    test = TransformedDataset(splits.test, linear_eval_transform(splits.spec.mean, splits.spec.std, 32, 32))
    images = torch.stack([test[i][0] for i in range(len(test))])
    labels = torch.tensor([test[i][1] for i in range(len(test))])
    with torch.no_grad():
        predictions = classifier(encoder.backbone.eval()(images)).argmax(1)
    assert results["num_test"] == 256
    assert results["final"]["linear_top1"] == pytest.approx(
        100.0 * (predictions == labels).float().mean().item(), abs=1e-6
    )
