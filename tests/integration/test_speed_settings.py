"""The speed settings run and change nothing but layout and rounding: channels_last, compile, bf16-mixed."""

import json

import pytest
import torch
from helpers import TINY, TINY_VIT, compose_config
from torch import nn

from whitening_ssl.methods import PretrainModule
from whitening_ssl.stages import run

BATCH = "data.batch_size=64"  # the preset's 256 images x 4 views: the step's CPU augmentation, proving nothing here


def test_channels_last_backbone_and_inputs(tmp_path, monkeypatch):
    seen = []
    original = PretrainModule.encode

    def encode(self, views, *args, **kwargs):
        conv = self.backbone.conv1.weight
        seen.append(conv.is_contiguous(memory_format=torch.channels_last) and conv.shape[-1] > 1)
        return original(self, views, *args, **kwargs)

    monkeypatch.setattr(PretrainModule, "encode", encode)
    run(compose_config(["debug=fdr", *TINY, BATCH, "channels_last=true"], run_dir=tmp_path))
    assert seen and all(seen)
    assert json.loads((tmp_path / "results.json").read_text())["global_step"] == 1


def test_compile_compiles_every_backbone_in_place(monkeypatch, tmp_path):
    compiled = []
    monkeypatch.setattr(nn.Module, "compile", lambda self, *a, **k: compiled.append(type(self).__name__))
    run(compose_config(["method=byol", "debug=fdr", *TINY, "data.batch_size=128", "compile=true"], run_dir=tmp_path))
    assert compiled == ["_ScaledResNet", "_ScaledResNet"]  # the online and the target backbone


def test_bf16_mixed_precision_trains_with_float32_whitening(tmp_path, monkeypatch):
    from whitening_ssl.losses import WhiteningMSELoss

    dtypes = []
    original = WhiteningMSELoss.whitened_blocks

    def whitened_blocks(self, embeddings, subbatches=None, generator=None):
        out = original(self, embeddings, subbatches, generator)
        dtypes.append((embeddings.dtype, out.dtype))
        return out

    monkeypatch.setattr(WhiteningMSELoss, "whitened_blocks", whitened_blocks)
    run(compose_config(["debug=fdr", *TINY, BATCH, "trainer.precision=bf16-mixed"], run_dir=tmp_path))
    # the training step: bfloat16 head output, whitened in float32; then the evaluation's measurements of the
    # whitened output (test images, then view pairs), in float32
    assert dtypes == [(torch.bfloat16, torch.float32)] + [(torch.float32, torch.float32)] * 2
    assert json.loads((tmp_path / "results.json").read_text())["global_step"] == 1


def test_a_vit_under_bf16_mixed_and_compile_keeps_float32_whitening_and_no_channels_last(tmp_path, monkeypatch):
    from whitening_ssl.losses import WhiteningMSELoss

    compiled, dtypes = [], []
    monkeypatch.setattr(nn.Module, "compile", lambda self, *a, **k: compiled.append(type(self).__name__))
    original = WhiteningMSELoss.whitened_blocks

    def whitened_blocks(self, embeddings, subbatches=None, generator=None):
        out = original(self, embeddings, subbatches, generator)
        dtypes.append((embeddings.dtype, out.dtype))
        return out

    monkeypatch.setattr(WhiteningMSELoss, "whitened_blocks", whitened_blocks)
    run(
        compose_config(
            [
                "debug=fdr",
                *TINY_VIT,
                BATCH,
                "trainer.precision=bf16-mixed",
                "compile=true",
                "analysis.at_evaluation=false",
            ],
            run_dir=tmp_path,
        )
    )
    assert compiled == ["VisionTransformer"] and dtypes[0] == (torch.bfloat16, torch.float32)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["global_step"] == 1


def test_bad_speed_values_are_refused(tmp_path):
    from whitening_ssl.stages import check_config
    from whitening_ssl.validation import ConfigError

    with pytest.raises(ConfigError) as caught:
        check_config(
            compose_config(["debug=fdr", *TINY, "channels_last=sometimes", "compile=maybe"], run_dir=tmp_path),
            check_machine=False,
        )
    assert caught.value.problems == [
        "channels_last='sometimes' is not available: use auto, true or false",
        "compile='maybe' must be true or false",
    ]
