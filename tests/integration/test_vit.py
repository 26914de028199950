"""timm backbones: a tiny ViT (2 blocks, width 32, 4-px patches) through multi-crop, the optimiser's weight-decay
groups, a CNN from timm, export then a strict timm load, the evaluation stages, a crashed run resumed, and the
bad-input lines."""

import json
import logging
import re

import pytest
import timm
import torch
from helpers import TINY_VIT, TINY_VIT_BACKBONE, compose_config, run_cli_in_process
from omegaconf import OmegaConf

from whitening_ssl.checkpoints import read_meta
from whitening_ssl.methods import PretrainModule, build_method
from whitening_ssl.models import build_backbone, check_backbone, resolve_stem, wants_channels_last
from whitening_ssl.optim import cosine_weight_decay, parameter_groups
from whitening_ssl.stages import check_config, run
from whitening_ssl.validation import Checks, ConfigError

TINY_ARGS = {"depth": 2, "embed_dim": 32, "num_heads": 2}
VIT = {
    "library": "timm",
    "name": "vit_tiny_patch16_224",
    "img_size": 32,
    "patch_size": 4,
    "pool": "token",
    "pos_embed": "learn",
    "drop_path_rate": 0.1,
    "pretrained": False,
    "model_args": TINY_ARGS,
}


def test_multicrop_views_of_two_sizes_go_through_one_vit():
    cfg = compose_config(["method=w_mse2", *TINY_VIT])
    module = build_method(VIT, OmegaConf.to_container(cfg.method, resolve=True), 4)
    views = [torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32), torch.randn(8, 3, 16, 16), torch.randn(8, 3, 16, 16)]
    features, embeddings = module.encode(views, return_features=True)
    assert features.shape == (32, 32) and embeddings.shape == (4, 8, cfg.method.emb)
    embeddings.square().sum().backward()
    assert module.backbone.pos_embed.grad.abs().sum() > 0  # the 16-px views used the interpolated embeddings
    assert not wants_channels_last(module.backbone)  # channels_last=auto leaves a ViT alone


def test_weight_decay_skips_norms_biases_position_embeddings_and_the_class_token():
    backbone, _ = build_backbone(**{**VIT, "model_args": {"depth": 1, "embed_dim": 32, "num_heads": 2}})
    named = list(backbone.named_parameters())
    decayed, skipped = parameter_groups(named, decay_norm_and_bias=False)
    names = {id(p): name for name, p in named}
    assert sorted(names[id(p)] for p in skipped["params"]) == sorted(
        [
            "cls_token",
            "pos_embed",
            "patch_embed.proj.bias",
            "blocks.0.norm1.weight",
            "blocks.0.norm1.bias",
            "blocks.0.attn.qkv.bias",
            "blocks.0.attn.proj.bias",
            "blocks.0.norm2.weight",
            "blocks.0.norm2.bias",
            "blocks.0.mlp.fc1.bias",
            "blocks.0.mlp.fc2.bias",
            "norm.weight",
            "norm.bias",
        ]
    )
    assert sorted(names[id(p)] for p in decayed["params"]) == sorted(
        [
            "patch_embed.proj.weight",
            "blocks.0.attn.qkv.weight",
            "blocks.0.attn.proj.weight",
            "blocks.0.mlp.fc1.weight",
            "blocks.0.mlp.fc2.weight",
        ]
    )
    assert skipped["weight_decay"] == 0.0 and len(parameter_groups(named, decay_norm_and_bias=True)) == 1
    assert [cosine_weight_decay(s, 5, 0.04, 0.4) for s in (0, 2, 4)] == pytest.approx([0.04, 0.22, 0.4])
    assert cosine_weight_decay(3, 5, 0.05, None) == 0.05


def test_fixed_sincos_position_embeddings_are_moco_v3s_table_and_not_trained():
    backbone, _ = build_backbone(**{**VIT, "pos_embed": "sincos"})
    table = backbone.pos_embed
    assert not table.requires_grad and table.shape == (1, 65, 32) and torch.equal(table[0, 0], torch.zeros(32))
    # token (i, j) of the 8x8 grid (MoCo v3's meshgrid(w, h): the first coordinate is the row)
    i, j, k = 2, 5, 3
    omega = 1.0 / 10000 ** (k / 8)
    row = table[0, 1 + i * 8 + j]
    assert torch.allclose(
        row[[k, 8 + k, 16 + k, 24 + k]],
        torch.tensor(
            [
                torch.sin(torch.tensor(i * omega)),
                torch.cos(torch.tensor(i * omega)),
                torch.sin(torch.tensor(j * omega)),
                torch.cos(torch.tensor(j * omega)),
            ]
        ),
        atol=1e-6,
    )


def test_a_cnn_from_timm_is_a_backbone_too():
    cfg = resolve_stem({**VIT, "name": "resnet10t", "pool": "auto", "model_args": None}, "cifar", 32)
    backbone, dim = build_backbone(**cfg)
    assert dim == 512 and backbone(torch.randn(2, 3, 32, 32)).shape == (2, 512) and wants_channels_last(backbone)


@pytest.fixture(scope="module")
def vit_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("vit")
    run(
        compose_config(
            [
                "method=cw_rgp4",
                *TINY_VIT,
                "backbone.pos_embed=sincos",
                "backbone.pool=avg",
                "epochs=1",
                "+trainer.max_steps=1",
                "data.batch_size=128",
                "eval.linear_epochs=2",
                "eval.evaluate_untrained=false",
            ],
            run_dir=run_dir / "pretrain",
        )
    )
    return run_dir


def test_export_loads_strictly_into_timm_and_gives_the_same_features(vit_run, caplog):
    ckpt = vit_run / "pretrain" / "checkpoints" / "last.ckpt"
    caplog.set_level(logging.INFO, logger="whitening_ssl")
    run(compose_config(["stage=export", f"ckpt={ckpt}"], run_dir=vit_run / "export"))
    printed = caplog.text
    assert (
        "timm.create_model('vit_tiny_patch16_224', pretrained=False, num_classes=0, img_size=32, patch_size=4, "
        "dynamic_img_size=True, global_pool='avg', depth=2, embed_dim=32, num_heads=2)" in printed
    )
    state_dict = torch.load(vit_run / "export" / "backbone_timm.pth", weights_only=True)
    model = timm.create_model(
        "vit_tiny_patch16_224",
        pretrained=False,
        num_classes=0,
        img_size=32,
        patch_size=4,
        dynamic_img_size=True,
        global_pool="avg",
        **TINY_ARGS,
    )
    model.load_state_dict(state_dict, strict=True)
    trained = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    assert torch.equal(model.blocks[1].mlp.fc2.weight, trained["backbone.blocks.1.mlp.fc2.weight"])
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "export.format=torchvision holds torchvision ResNets only, and this "
            "checkpoint's backbone is timm's vit_tiny_patch16_224: use export.format=timm"
        ),
    ):
        check_config(
            compose_config(["stage=export", f"ckpt={ckpt}", "export.format=torchvision"], run_dir=vit_run / "refused")
        )
    assert not (vit_run / "refused").exists()


@pytest.mark.parametrize(
    "stage,extra", [("knn", []), ("analyze", ["analysis.max_images=64"]), ("linear", ["linear.epochs=2"])]
)
def test_evaluation_stages_read_a_vit_checkpoint(vit_run, stage, extra):
    ckpt = vit_run / "pretrain" / "checkpoints" / "last.ckpt"
    run(compose_config([f"stage={stage}", f"ckpt={ckpt}", "logger=none", *extra], run_dir=vit_run / stage))
    results = json.loads((vit_run / stage / ("analysis.json" if stage == "analyze" else "results.json")).read_text())
    assert results


def _problems(*overrides, spec=None, views=()):
    cfg = compose_config(list(overrides))
    checks = Checks(check_machine=False)
    check_backbone(checks, cfg.backbone, spec, views)
    return checks.problems


def test_bad_timm_settings_are_one_line_each():
    from whitening_ssl.data import get_spec

    cifar = get_spec("synthetic", "/nonexistent")
    [unknown] = _problems("backbone=timm", "backbone.name=vit_smal_patch16_224")
    assert unknown.startswith(
        "backbone.name='vit_smal_patch16_224' is not a timm architecture: the closest timm names: "
        "vit_small_patch16_224, "
    )
    assert _problems("backbone=vit_tiny", "backbone.patch_size=5", spec=cifar) == [
        "the training crop is 32 px, which backbone.patch_size=5 does not divide: use a patch size that divides 32 (e.g. 4)"
    ]
    assert _problems("backbone=vit_tiny", spec=cifar, views=(32, 18)) == [
        "a multi-crop view is 18 px, which backbone.patch_size=4 does not divide: use a patch size that divides "
        "18 (e.g. 3)"
    ]
    assert _problems("backbone=vit_tiny", "+backbone.stem=cifar") == [
        "backbone.stem=cifar is a ResNet setting: the timm backbone vit_tiny_patch16_224 has none; drop backbone.stem "
        "(a ViT's patch size is backbone.patch_size)"
    ]
    assert _problems("backbone=timm", "backbone.name=resnet10t", "backbone.pool=token") == [
        "backbone.pool=token is for ViTs (a class token): resnet10t has none; use backbone.pool=auto or avg"
    ]
    assert _problems("backbone=timm") == [
        "backbone=timm needs backbone.name=<a timm architecture>, e.g. backbone.name=convnext_atto"
    ]


def test_pretrained_weights_without_the_network_are_one_error_line(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import: no network wait
    with pytest.raises(
        ValueError,
        match=r"^backbone.pretrained=true: timm could not load the published weights of "
        r"vit_tiny_patch16_224 \(.*\): connect to the network",
    ):
        build_backbone(**{**VIT, "pretrained": True, "model_args": None})


def test_the_cli_refuses_a_patch_size_that_does_not_divide_the_image_before_any_folder(tmp_path):
    result = run_cli_in_process(
        [
            "backbone=vit_tiny",
            "dataset=synthetic",
            "backbone.patch_size=3",
            "logger=none",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 2 and not (tmp_path / "run").exists()
    assert result.stderr.strip().splitlines()[-1] == (
        "error: the training crop is 32 px, which backbone.patch_size=3 "
        "does not divide: use a patch size that divides 32 (e.g. 2)"
    )


def test_the_timm_settings_a_checkpoint_holds_are_checked_before_anything_is_built():
    from whitening_ssl.checkpoints import CheckpointError
    from whitening_ssl.checkpoints.saved_settings import check_saved_backbone

    check_saved_backbone({"backbone": VIT}, "x.ckpt")
    with pytest.raises(
        CheckpointError,
        match=r"^x.ckpt has saved backbone settings that cannot be rebuilt: "
        r"backbone.name='os.system' is not a timm architecture",
    ):
        check_saved_backbone({"backbone": {**VIT, "name": "os.system"}}, "x.ckpt")
    with pytest.raises(CheckpointError, match=r"backbone.model_args=.* must be a mapping of plain values"):
        check_saved_backbone({"backbone": {**VIT, "model_args": {"depth": {"_target_": "os.system"}}}}, "x.ckpt")


def test_a_crashed_vit_run_resumed_from_last_ends_with_the_weights_of_one_that_never_stopped(tmp_path, monkeypatch):
    """A crash in epoch 2 of 2 keeps epoch 1's ``last.ckpt``; ``ckpt_path=last`` continues from there (optimiser,
    schedule, data order) and, deterministic on CPU, ends with the uninterrupted run's weights and steps."""
    args = [
        "debug=smoke",
        *TINY_VIT_BACKBONE,
        "logger=none",
        "eval.enabled=false",
        "trainer.deterministic=true",
        "dataset.options.num_samples=128",  # batch 64: 2 steps per epoch
        "dataset.options.image_size=16",  # 4-px patches: 16 tokens
        "data.num_views=2",
        "analysis.every_n_steps=0",
    ]
    run(compose_config(args, run_dir=tmp_path / "whole"))
    original = PretrainModule.training_step

    def crash_in_epoch_2(self, batch, batch_idx):
        if self.global_step == 3:
            raise MemoryError("simulated crash")
        return original(self, batch, batch_idx)

    monkeypatch.setattr(PretrainModule, "training_step", crash_in_epoch_2)
    with pytest.raises(MemoryError):
        run(compose_config(args, run_dir=tmp_path / "crashed"))
    assert read_meta(tmp_path / "crashed" / "checkpoints")["global_step"] == 2
    steps = []

    def record(self, batch, batch_idx):
        steps.append(self.global_step)
        return original(self, batch, batch_idx)

    monkeypatch.setattr(PretrainModule, "training_step", record)
    run(compose_config([*args, "ckpt_path=last"], run_dir=tmp_path / "crashed"))
    assert steps == [2, 3]  # resumed: only epoch 2 was trained again

    whole, resumed = (
        torch.load(tmp_path / name / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
        for name in ("whole", "crashed")
    )
    assert whole["global_step"] == resumed["global_step"] == 4
    expected, got = whole["state_dict"], resumed["state_dict"]
    assert any(key.startswith("backbone.blocks.") for key in expected) and set(expected) == set(got)
    assert all(torch.equal(expected[key], got[key]) for key in expected)
