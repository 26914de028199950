"""Method modules (BYOL's EMA target, the covariance term) and the paper presets' values."""

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from whitening_ssl.baseline_losses import byol_tau
from whitening_ssl.data import get_spec
from whitening_ssl.stages import check_config
from whitening_ssl.losses import covariance_penalty
from whitening_ssl.methods import BYOLModule, WhiteningPretrainModule
from whitening_ssl.training import NonFiniteLossError

from helpers import compose_config

TINY_BACKBONE = {"name": "resnet_tiny", "width": 4}


class RandomViews(Dataset):
    def __init__(self, n=32, views=2):
        self.images = torch.randn(n, views, 3, 16, 16)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return list(self.images[index]), 0


def test_byol_target_is_not_optimised_and_follows_the_ema_schedule():
    module = BYOLModule(TINY_BACKBONE, {"emb": 16, "head_size": 32, "pred_hidden": 32, "batch_size": 8,
                                        "warmup_steps": 0, "schedule": "constant", "lr": 1e-2})
    optimised = {id(p) for p in module.optimized_parameters()}
    target = list(module.target_backbone.parameters()) + list(module.target_head.parameters())
    assert target and not any(id(p) in optimised for p in target)

    online_before = [p.detach().clone() for p in list(module.backbone.parameters()) + list(module.head.parameters())]
    target_before = [p.detach().clone() for p in target]
    taus = []
    original_update = module.update_target

    def recording_update(tau):
        taus.append(tau)
        original_update(tau)

    module.update_target = recording_update
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False)
    trainer.fit(module, train_dataloaders=DataLoader(RandomViews(), batch_size=8, drop_last=True))

    total = trainer.global_step
    assert total == 4 and len(taus) == total
    # tau follows 1 - (1 - 0.99)(cos(pi p) + 1) / 2 with p the fraction of training done after each step
    assert taus == pytest.approx([byol_tau((i + 1) / total) for i in range(total)])
    online_after = [p.detach() for p in list(module.backbone.parameters()) + list(module.head.parameters())]
    assert any(not torch.equal(a, b) for a, b in zip(online_before, online_after))
    # the target moves only through the EMA: less than the online network, but it does move
    moved_target = sum((a - b).abs().sum() for a, b in zip(target_before, target))
    moved_online = sum((a - b).abs().sum() for a, b in zip(online_before, online_after))
    assert 0 < moved_target < moved_online


def test_ema_update_formula():
    module = BYOLModule(TINY_BACKBONE, {"emb": 8, "head_size": 16, "pred_hidden": 16})
    with torch.no_grad():
        for p in module.target_head.parameters():
            p.zero_()
    online = [p.detach().clone() for p in module.head.parameters()]
    module.update_target(0.75)
    for o, t in zip(online, module.target_head.parameters()):
        assert torch.allclose(t, 0.25 * o)


def test_covariance_penalty_equals_the_paper_formula():
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(3, 10, 6, generator=gen, dtype=torch.float64)

    def paper(x):  # one view, as the paper's covariance_loss
        n, d = x.shape
        x = x - x.mean(0)
        cov = x.T @ x / (n - 1)
        return cov[~torch.eye(d, dtype=torch.bool)].pow(2).sum() / d

    assert torch.allclose(covariance_penalty(h), sum(paper(v) for v in h))
    assert torch.allclose(covariance_penalty(h, samples_as_variables=True), sum(paper(v.T) for v in h))


def test_covariance_weight_stops_at_cov_stop():
    module = WhiteningPretrainModule(TINY_BACKBONE, {"emb": 64, "groups": 2, "w_size": 8, "cov_w": 0.01, "cov_stop": 2})
    assert [module.cov_weight(epoch) for epoch in range(4)] == [0.01, 0.01, 0.0, 0.0]


# PAPER_NOTES section 5: epochs, lr, views, batch, w_size, groups, emb, head, w_iter
PAPER = {
    "cifar10_cw_rgp4": (1000, 3e-3, 4, 256, 64, 4, 512, 1024, 1),
    "cifar100_cw_rgp4": (1000, 3e-3, 4, 256, 64, 4, 512, 1024, 1),
    "stl10_cw_rgp4": (2000, 2e-3, 4, 256, 64, 4, 512, 1024, 1),
    "tiny_imagenet_cw_rgp4": (1000, 2e-3, 4, 256, 128, 2, 1024, 2048, 1),
    "cifar10_cw_rgp2": (1000, 3e-3, 2, 256, 64, 4, 512, 1024, 4),
    "cifar100_cw_rgp2": (1000, 3e-3, 2, 512, 64, 4, 512, 1024, 1),
    "stl10_cw_rgp2": (2000, 2e-3, 2, 512, 64, 4, 512, 1024, 1),
    "tiny_imagenet_cw_rgp2": (1000, 2e-3, 2, 512, 128, 2, 1024, 2048, 1),
    "cifar10_w_mse4": (1000, 3e-3, 4, 256, 128, 1, 64, 1024, 1),
    "cifar100_w_mse4": (1000, 3e-3, 4, 256, 128, 1, 64, 1024, 1),
    "stl10_w_mse4": (2000, 2e-3, 4, 256, 256, 1, 128, 1024, 1),
    "tiny_imagenet_w_mse4": (1000, 2e-3, 4, 256, 256, 1, 128, 1024, 1),
    "cifar10_w_mse2": (1000, 3e-3, 2, 512, 128, 1, 64, 1024, 1),
    "cifar100_w_mse2": (1000, 3e-3, 2, 512, 128, 1, 64, 1024, 1),
    "stl10_w_mse2": (2000, 2e-3, 2, 512, 256, 1, 128, 1024, 4),
    "tiny_imagenet_w_mse2": (1000, 2e-3, 2, 512, 256, 1, 128, 1024, 4),
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_small_dataset_paper_presets_hold_the_published_values(name):
    cfg = compose_config([f"experiment=paper/{name}"], run_dir="/tmp/unused")
    check_config(cfg, check_machine=False)
    epochs, lr, views, batch, w_size, groups, emb, head, w_iter = PAPER[name]
    m = cfg.method
    assert (cfg.epochs, m.lr, cfg.data.num_views, cfg.data.batch_size, m.w_size, m.groups, m.emb, m.head_size, m.w_iter) == \
        (epochs, lr, views, batch, w_size, groups, emb, head, w_iter)
    assert cfg.dataset.name in name and cfg.method.name in name and cfg.backbone.name == "resnet18"
    assert (m.optimizer, m.weight_decay, m.warmup_steps, m.schedule, list(m.drops), m.drop_gamma) == \
        ("adam", 1e-6, 500, "step", [50, 25], 0.2)
    if "cw_rgp" in name:
        assert (m.whiten, m.axis, m.random_groups) == ("zca", "channel", True)
    else:
        assert (m.whiten, m.axis, m.random_groups) == ("cholesky", "batch", False)
    assert cfg.backbone.stem == "auto"
    expected_stem = "cifar" if name.startswith("cifar") else "small"
    assert get_spec(cfg.dataset.name, cfg.dataset.root).stem == expected_stem


@pytest.mark.parametrize("epochs,cov_w,cov_stop", [(100, 0.005, 50), (200, 0.01, 100)])
def test_imagenet_presets(epochs, cov_w, cov_stop):
    cfg = compose_config([f"experiment=paper/imagenet_cw_rgp4_{epochs}ep", "dataset.root=/data/imagenet"],
                         run_dir="/tmp/unused")
    check_config(cfg, check_machine=False)
    m = cfg.method
    assert cfg.epochs == epochs and (m.cov_w, m.cov_stop) == (cov_w, cov_stop)
    assert (cfg.data.num_views, m.w_size, m.groups, m.emb, m.head_size, m.head_layers) == (4, 128, 2, 1024, 2048, 3)
    assert cfg.data.batch_size * cfg.trainer.devices == 512 and cfg.trainer.sync_batchnorm
    assert (m.optimizer, m.lr, m.momentum, m.weight_decay, m.schedule) == ("sgd", 0.1, 0.9, 1e-4, "cosine_epoch")
    assert cfg.backbone.name == "resnet50" and cfg.backbone.stem == "auto" and cfg.dataset.name == "imagenet"

    linear = compose_config(["experiment=paper/imagenet_linear", "ckpt=x.pth", "dataset.root=/data/imagenet"],
                            run_dir="/tmp/unused")
    check_config(linear, check_machine=False)
    lin = linear.linear
    assert linear.stage == "linear" and lin.protocol == "standard" and lin.optimizer == "lars"
    assert lin.batch_size * linear.trainer.devices == 1024 and lin.lr == 0.1 and lin.weight_decay == 0.0


def test_non_finite_loss_stops_training_with_a_clear_error():
    module = WhiteningPretrainModule(TINY_BACKBONE, {"emb": 16, "head_size": 32, "whiten": "none", "axis": "batch",
                                                     "groups": 1, "w_size": 8, "batch_size": 8})
    module.compute_loss = lambda embeddings, views: (embeddings.sum() * float("nan"), {})
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, log_every_n_steps=1)
    with pytest.raises(NonFiniteLossError, match=r"non-finite \(nan or inf\) at step 0 \(epoch 0\).*lower method.lr"):
        trainer.fit(module, train_dataloaders=DataLoader(RandomViews(), batch_size=8, drop_last=True))
