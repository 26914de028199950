"""Evaluation stages (linear, knn, export) and checkpoint formats."""

import json
import pickle

import pytest
import pytorch_lightning as pl
import torch
import torchvision
from helpers import compose_config, run_cli_in_process
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from whitening_ssl.checkpoints import CheckpointError, detect_format, load_encoder
from whitening_ssl.eval import LinearProbeModule
from whitening_ssl.stages import run

PLAIN_RESNET18 = {"name": "resnet18", "stem": "imagenet"}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A one-epoch pretraining run on synthetic data; returns its last checkpoint."""
    run_dir = tmp_path_factory.mktemp("pretrain")
    cfg = compose_config(
        ["debug=smoke", "epochs=1", "checkpoint_every=1", "backbone.width=8", "logger=none", "eval.enabled=false"],
        run_dir=run_dir,
    )
    run(cfg)
    return run_dir / "checkpoints" / "last.ckpt"


def test_linear_and_knn_stages_need_only_the_checkpoint(pretrained, tmp_path):
    # the run's dataset/backbone come from the checkpoint: defaults (cifar10, resnet18) are not used
    cfg = compose_config(
        ["stage=linear", f"ckpt={pretrained}", "linear.epochs=3", "logger=csv"], run_dir=tmp_path / "linear"
    )
    run(cfg)
    results = json.loads((tmp_path / "linear" / "results.json").read_text())
    assert (
        results["stage"] == "linear"
        and results["dataset"] == "synthetic"
        and results["checkpoint_format"] == "lightning"
    )
    assert results["backbone"] == "resnet_tiny" and results["method"] == "cw_rgp4"
    assert (
        0 <= results["final"]["linear_top1"] <= 100
        and results["final"]["linear_top5"] >= results["final"]["linear_top1"]
    )
    assert (tmp_path / "linear" / "linear_classifier.pt").exists()

    cfg = compose_config(["stage=knn", f"ckpt={pretrained}", "logger=none"], run_dir=tmp_path / "knn")
    run(cfg)
    results = json.loads((tmp_path / "knn" / "results.json").read_text())
    assert results["stage"] == "knn" and results["k"] == 5 and 0 <= results["final"]["knn_top1"] <= 100


def test_a_failing_logger_never_loses_the_evaluation(pretrained, tmp_path, monkeypatch):
    from whitening_ssl import loggers

    def build_logger(*args, **kwargs):
        raise RuntimeError("wandb.init failed: no network")

    monkeypatch.setattr(loggers, "build_logger", build_logger)
    with pytest.raises(RuntimeError, match="no network"):
        run(compose_config(["stage=knn", f"ckpt={pretrained}", "logger=csv"], run_dir=tmp_path))
    assert json.loads((tmp_path / "results.json").read_text())["final"]["knn_top1"] is not None


def test_standard_protocol_keeps_backbone_frozen_in_eval_mode(pretrained):
    encoder = load_encoder(pretrained)
    module = LinearProbeModule(
        encoder.backbone,
        encoder.feature_dim,
        num_classes=10,
        optim={
            **OmegaConf.to_container(compose_config([]).linear),
            "optimizer": "lars",
            "lr": 0.1,
            "batch_size": 8,
            "weight_decay": 0.0,
            "momentum": 0.9,
        },
    )
    before = {k: v.clone() for k, v in module.backbone.state_dict().items()}
    module.train()
    assert not module.backbone.training and module.classifier.training
    assert (
        module.classifier.weight.std().item() == pytest.approx(0.01, rel=0.2)
        and module.classifier.bias.abs().sum() == 0
    )
    images, labels = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    loader = DataLoader(TensorDataset(images, labels), batch_size=8)
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, train_dataloaders=loader)
    after = module.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN running stats untouched too


def test_standard_protocol_checkpoints_every_epoch_and_resumes(pretrained, tmp_path, monkeypatch):
    """A crash in epoch 2 keeps epoch 1; ``ckpt_path=last`` continues from there and ends like a run that never
    stopped (same classifier)."""
    from whitening_ssl.checkpoints import read_meta

    args = [
        "stage=linear",
        f"ckpt={pretrained}",
        "logger=none",
        "linear.protocol=standard",
        "linear.epochs=2",
        "linear.batch_size=64",
        "linear.crop_size=32",
        "linear.resize=32",
        "linear.optimizer=sgd",
        "trainer=cpu",
        "trainer.deterministic=true",
    ]
    run(compose_config(args, run_dir=tmp_path / "whole"))
    steps_per_epoch = read_meta(tmp_path / "whole" / "checkpoints")["global_step"] // 2

    original = LinearProbeModule.training_step

    def crash_in_epoch_2(self, batch, batch_idx):
        if self.global_step == steps_per_epoch + 1:
            raise MemoryError("simulated crash")
        return original(self, batch, batch_idx)

    monkeypatch.setattr(LinearProbeModule, "training_step", crash_in_epoch_2)
    with pytest.raises(MemoryError):
        run(compose_config(args, run_dir=tmp_path / "crashed"))
    meta = read_meta(tmp_path / "crashed" / "checkpoints")
    assert meta["epochs_completed"] == 1 and meta["global_step"] == steps_per_epoch
    monkeypatch.setattr(LinearProbeModule, "training_step", original)
    run(compose_config([*args, "ckpt_path=last"], run_dir=tmp_path / "crashed"))
    whole, resumed = (
        torch.load(tmp_path / name / "linear_classifier.pt", weights_only=False)["state_dict"]
        for name in ("whole", "crashed")
    )
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert (
        json.loads((tmp_path / "crashed" / "results.json").read_text())["final"]
        == json.loads((tmp_path / "whole" / "results.json").read_text())["final"]
    )


def _random_resnet18():
    torch.manual_seed(3)
    model = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        for buffer in model.buffers():
            if buffer.dtype.is_floating_point:
                buffer.uniform_(0.5, 1.5)  # non-default BN statistics, so a fresh model would differ
    return model


def _assert_backbone_equals(backbone, model):
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    got = {k: v for k, v in backbone.state_dict().items() if not k.startswith("fc.")}
    assert set(got) == set(expected)
    assert all(torch.equal(got[k], expected[k]) for k in expected)


def test_paper_checkpoint_loads_bit_identical(tmp_path):
    model = _random_resnet18()
    state = {f"module.model.{k}": v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    state["module.head.0.weight"] = torch.randn(1024, 512)  # the released files also hold the head
    path = tmp_path / "paper.pth.tar"
    torch.save({"epoch": 200, "arch": "resnet18", "state_dict": state}, path)
    encoder = load_encoder(path, PLAIN_RESNET18)
    assert encoder.format == "paper"
    _assert_backbone_equals(encoder.backbone, model)
    with pytest.raises(CheckpointError, match="give backbone="):
        load_encoder(path)


def test_torchvision_state_dict_loads_bit_identical(tmp_path):
    model = _random_resnet18()
    path = tmp_path / "tv.pth"
    torch.save(model.state_dict(), path)
    encoder = load_encoder(path, PLAIN_RESNET18)
    assert encoder.format == "torchvision"
    _assert_backbone_equals(encoder.backbone, model)


@pytest.mark.parametrize(
    "kernel,dataset_stem,expected",
    [(7, None, "imagenet"), (7, "cifar", "imagenet"), (3, "cifar", "cifar"), (3, "small", "small"), (3, None, "small")],
)
def test_foreign_checkpoint_stem_is_read_from_conv1(tmp_path, kernel, dataset_stem, expected):
    # backbone=resnet18 alone (stem auto): a 7x7 conv1 builds the ImageNet stem; a 3x3 one a small-image
    # stem whose max-pool follows the dataset (kept when unknown); the choice is printed in one line
    model = _random_resnet18()
    if kernel == 3:
        model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    state = {f"module.model.{k}": v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    torch.save({"state_dict": state}, tmp_path / "paper.pth.tar")
    encoder = load_encoder(tmp_path / "paper.pth.tar", {"name": "resnet18", "stem": "auto"}, dataset_stem=dataset_stem)
    assert encoder.backbone_cfg["stem"] == expected
    assert encoder.notes == [
        f"backbone stem read from the checkpoint: conv1 is {kernel}x{kernel}, so stem={expected} "
        "(give backbone.stem= to choose)"
    ]
    assert isinstance(encoder.backbone.maxpool, torch.nn.Identity) == (expected == "cifar")
    _assert_backbone_equals(encoder.backbone, model)


def test_bad_checkpoints_raise_one_clear_error(tmp_path, pretrained):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_encoder(tmp_path / "nope.ckpt", PLAIN_RESNET18)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(pretrained.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_encoder(truncated)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_encoder(text)

    model = _random_resnet18()
    wrong_keys = {k.replace("layer1", "stage1"): v for k, v in model.state_dict().items()}
    torch.save(wrong_keys, tmp_path / "keys.pth")
    with pytest.raises(CheckpointError, match=r"missing keys \(layer1.*unexpected keys \(stage1"):
        load_encoder(tmp_path / "keys.pth", PLAIN_RESNET18)

    torch.save(model.state_dict(), tmp_path / "stem.pth")  # a 7x7 conv1
    with pytest.raises(CheckpointError, match=r"has a 7x7 conv1 but backbone.stem=cifar builds a 3x3 one"):
        load_encoder(tmp_path / "stem.pth", {"name": "resnet18", "stem": "cifar"})

    reshaped = dict(model.state_dict(), **{"layer1.0.conv1.weight": torch.zeros(64, 64, 1, 1)})
    torch.save(reshaped, tmp_path / "shapes.pth")
    with pytest.raises(
        CheckpointError,
        match=r"1 shape mismatches \(layer1.0.conv1.weight: checkpoint \[64, 64, 1, 1\] "
        r"vs model \[64, 64, 3, 3\]\)",
    ):
        load_encoder(tmp_path / "shapes.pth", PLAIN_RESNET18)

    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="unrecognised checkpoint contents"):
        load_encoder(tmp_path / "other.pt", PLAIN_RESNET18)
    with pytest.raises(CheckpointError, match="unrecognised checkpoint contents"):
        detect_format({"state_dict": {"encoder.conv1.weight": torch.zeros(1)}})


def test_cli_reports_bad_checkpoint_in_one_line(tmp_path):
    proc = run_cli_in_process(
        ["stage=linear", f"ckpt={tmp_path / 'missing.ckpt'}", f"hydra.run.dir={tmp_path}"], cwd=tmp_path
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip().splitlines()[-1]
        == f"error: ckpt={tmp_path / 'missing.ckpt'}: checkpoint not found (check the path)"
    )


def test_export_round_trip_torchvision_and_detectron2(tmp_path):
    model = _random_resnet18()
    torch.save(model.state_dict(), tmp_path / "tv.pth")
    base = ["stage=export", f"ckpt={tmp_path / 'tv.pth'}", "backbone=resnet18", "logger=none"]
    run(compose_config([*base, f"export.output={tmp_path / 'out.pth'}"], run_dir=tmp_path / "run"))
    fresh = torchvision.models.resnet18(weights=None)
    missing, unexpected = fresh.load_state_dict(torch.load(tmp_path / "out.pth"), strict=False)
    assert sorted(missing) == ["fc.bias", "fc.weight"] and not unexpected
    _assert_backbone_equals(fresh, model)

    run(compose_config([*base, "export.format=detectron2"], run_dir=tmp_path / "run"))
    with open(tmp_path / "run" / "backbone_detectron2.pkl", "rb") as handle:
        payload = pickle.load(handle)
    assert payload["matching_heuristics"] is True
    weights = payload["model"]
    assert "stem.conv1.weight" in weights and "stem.conv1.norm.running_mean" in weights
    assert "res2.0.conv1.weight" in weights and "res2.0.conv1.norm.weight" in weights
    assert "res3.0.shortcut.weight" in weights and "res3.0.shortcut.norm.bias" in weights
    assert not any(k.startswith(("layer", "fc", "conv1", "bn1")) for k in weights)
    assert (weights["res5.1.conv2.weight"] == model.layer4[1].conv2.weight.detach().numpy()).all()
