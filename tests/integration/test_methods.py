"""Method modules: per-view BatchNorm as the paper's per-view loop, BYOL's EMA target, the covariance
term, the paper presets' values."""

import copy

import pytest
import pytorch_lightning as pl
import torch
from helpers import CONF, compose_config
from omegaconf import OmegaConf
from torch import nn
from torch.utils.data import DataLoader, Dataset

from whitening_ssl.data import get_spec
from whitening_ssl.losses import covariance_penalty
from whitening_ssl.methods import BYOLMethod, LossOutput, PretrainModule, SimSiamMethod, build_method
from whitening_ssl.models import ViewBatchNorm1d, ViewBatchNorm2d
from whitening_ssl.schedules import byol_tau
from whitening_ssl.stages import check_config
from whitening_ssl.training import NonFiniteLossError

TINY_BACKBONE = {"name": "resnet_tiny", "width": 4, "stem": "cifar"}


def method_module(name, *overrides, backbone=TINY_BACKBONE):
    """The pretraining module of ``method=name`` as composed from the real presets (tiny backbone)."""
    cfg = compose_config([f"method={name}", *overrides])
    return build_method(backbone, OmegaConf.to_container(cfg.method, resolve=True), cfg.data.num_views)


class RandomViews(Dataset):
    def __init__(self, n=32, views=2):
        self.images = torch.randn(n, views, 3, 16, 16)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return list(self.images[index]), 0


# --- BatchNorm statistics per view, as the paper's code runs each view separately ----------------

#: the paper's code: whitening methods and SimCLR apply the head to all views at once; Barlow Twins,
#: VICReg, Zero-CL, BYOL and SimSiam run head(backbone(x)) (and the predictor) for each view
HEAD_PER_VIEW = {
    "cw_rgp4": False,
    "cw_rgp2": False,
    "w_mse4": False,
    "w_mse2": False,
    "shuffled_dbn": False,
    "bn": False,
    "plain": False,
    "pca": False,
    "simclr": False,
    "barlow_twins": True,
    "vicreg": True,
    "zero_cl": True,
    "byol": True,
    "simsiam": True,
}


@pytest.mark.parametrize("name,per_view", sorted(HEAD_PER_VIEW.items()))
def test_head_per_view_is_set_as_the_papers_code_does(name, per_view):
    cfg = compose_config([f"method={name}"])
    assert cfg.method.head_per_view is per_view and cfg.method.bn_per_view is True


def _plain_copy(module):
    """A copy whose networks' BatchNorm layers are ordinary ones: called once per view, as the paper's loop
    (the loss's own BatchNorm, Barlow Twins', is checked against the paper's module in test_baseline_losses)."""
    plain = copy.deepcopy(module)
    networks = [
        getattr(plain, name)
        for name in ("backbone", "head", "predictor", "target_backbone", "target_head")
        if hasattr(plain, name)
    ]
    for layer in (layer for network in networks for layer in network.modules()):
        if isinstance(layer, ViewBatchNorm2d):
            layer.__class__ = nn.BatchNorm2d
        elif isinstance(layer, ViewBatchNorm1d):
            layer.__class__ = nn.BatchNorm1d
    return plain


def _per_view_loss(module, views):
    """The loss written as the paper's code computes it: one backbone call per view; the head per view or,
    for the whitening methods and SimCLR, on all views' features at once."""
    features = [module.backbone(view) for view in views]
    if module.method["head_per_view"]:
        embeddings = torch.stack([module.head(f) for f in features])
    else:
        embeddings = module.head(torch.cat(features)).view(len(views), len(views[0]), -1)
    if isinstance(module, (BYOLMethod, SimSiamMethod)):
        predictions = torch.stack([module.predictor(embeddings[v]) for v in range(len(views))])
        if isinstance(module, SimSiamMethod):
            return module.loss_fn(predictions, embeddings)
        with torch.no_grad():
            targets = torch.stack([module.target_head(module.target_backbone(view)) for view in views])
        return module.loss_fn(predictions, targets)
    return module.compute_loss(embeddings, views).loss


@pytest.mark.parametrize("name", ["barlow_twins", "vicreg", "zero_cl", "byol", "simsiam", "simclr", "cw_rgp4"])
def test_one_pass_equals_the_per_view_loop(name):
    """Loss, every parameter gradient and the BatchNorm running statistics of the one-pass step equal the
    per-view loop's (float64; the whitening methods with fixed sub-batches and channel partitions)."""
    torch.manual_seed(0)
    module = (
        method_module(
            name,
            "method.emb=64",
            "method.head_size=32",
            *(["method.w_size=8", "method.groups=2"] if name == "cw_rgp4" else []),
        )
        .double()
        .train()
    )
    reference = _plain_copy(module)
    views = [torch.randn(16, 3, 16, 16, dtype=torch.float64) for _ in range(module.num_views)]

    torch.manual_seed(1)  # the same random draws (sub-batches, channel partitions) in both
    got = module.compute_loss(module.encode(views), views).loss
    torch.manual_seed(1)
    expected = _per_view_loss(reference, views)
    assert torch.allclose(got, expected, atol=1e-10, rtol=1e-9), (got.item(), expected.item())

    params = [p for p in module.parameters() if p.requires_grad]
    ref_params = [p for p in reference.parameters() if p.requires_grad]
    grads = torch.autograd.grad(got, params, allow_unused=True)
    ref_grads = torch.autograd.grad(expected, ref_params, allow_unused=True)
    assert len(grads) == len(ref_grads) > 0
    for (pname, _), a, b in zip(module.named_parameters(), grads, ref_grads):
        assert (a is None) == (b is None), pname
        if a is not None:
            assert torch.allclose(a, b, atol=1e-9, rtol=1e-7), pname
    for (bname, a), b in zip(module.named_buffers(), reference.buffers()):
        assert torch.allclose(a.double(), b.double(), atol=1e-10), bname


def test_head_per_view_changes_the_loss():
    # per-view statistics are not the statistics of all views together: the setting matters
    torch.manual_seed(0)
    per_view = method_module("vicreg", "method.emb=32", "method.head_size=32").double()
    shared = method_module(
        "vicreg", "method.emb=32", "method.head_size=32", "method.head_per_view=false", "method.bn_per_view=false"
    ).double()
    shared.load_state_dict(per_view.state_dict())
    views = [torch.randn(16, 3, 16, 16, dtype=torch.float64) + 2 * v for v in range(2)]  # views that differ
    assert not torch.allclose(
        per_view.compute_loss(per_view.encode(views), views).loss, shared.compute_loss(shared.encode(views), views).loss
    )


def test_byol_target_is_not_optimised_and_follows_the_ema_schedule():
    module = method_module(
        "byol",
        "method.emb=16",
        "method.head_size=32",
        "method.pred_hidden=32",
        "method.warmup_steps=0",
        "method.schedule=constant",
        "method.lr=1e-2",
    )
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
    trainer = pl.Trainer(
        max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
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
    module = method_module("byol", "method.emb=8", "method.head_size=16", "method.pred_hidden=16")
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
    module = method_module(
        "cw_rgp4", "method.emb=64", "method.groups=2", "method.w_size=8", "method.cov_w=0.01", "method.cov_stop=2"
    )
    assert [module.cov_weight(epoch) for epoch in range(4)] == [0.01, 0.01, 0.0, 0.0]


# the published settings: epochs, lr, views, batch, w_size, groups, emb, head, w_iter
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
    assert (
        cfg.epochs,
        m.lr,
        cfg.data.num_views,
        cfg.data.batch_size,
        m.w_size,
        m.groups,
        m.emb,
        m.head_size,
        m.w_iter,
    ) == (epochs, lr, views, batch, w_size, groups, emb, head, w_iter)
    assert cfg.dataset.name in name and cfg.method.name in name and cfg.backbone.name == "resnet18"
    assert (m.optimizer, m.weight_decay, m.warmup_steps, m.schedule, list(m.drops), m.drop_gamma) == (
        "adam",
        1e-6,
        500,
        "step",
        [50, 25],
        0.2,
    )
    if "cw_rgp" in name:
        assert (m.whiten, m.axis, m.random_groups) == ("zca", "channel", True)
    else:
        assert (m.whiten, m.axis, m.random_groups) == ("cholesky", "batch", False)
    assert cfg.backbone.stem == "auto"
    expected_stem = "cifar" if name.startswith("cifar") else "small"
    assert get_spec(cfg.dataset.name, cfg.dataset.root).stem == expected_stem


@pytest.mark.parametrize("epochs,cov_w,cov_stop", [(100, 0.005, 50), (200, 0.01, 100)])
def test_imagenet_presets(epochs, cov_w, cov_stop):
    cfg = compose_config(
        [f"experiment=paper/imagenet_cw_rgp4_{epochs}ep", "dataset.root=/data/imagenet"], run_dir="/tmp/unused"
    )
    check_config(cfg, check_machine=False)
    m = cfg.method
    assert cfg.epochs == epochs and (m.cov_w, m.cov_stop) == (cov_w, cov_stop)
    assert (cfg.data.num_views, m.w_size, m.groups, m.emb, m.head_size, m.head_layers) == (4, 128, 2, 1024, 2048, 3)
    assert cfg.data.batch_size * cfg.trainer.devices == 512 and cfg.trainer.sync_batchnorm
    assert (m.optimizer, m.lr, m.momentum, m.weight_decay, m.schedule) == ("sgd", 0.1, 0.9, 1e-4, "cosine_epoch")
    assert cfg.backbone.name == "resnet50" and cfg.backbone.stem == "auto" and cfg.dataset.name == "imagenet"

    linear = compose_config(
        ["experiment=paper/imagenet_linear", "ckpt=x.pth", "dataset.root=/data/imagenet"], run_dir="/tmp/unused"
    )
    check_config(linear, check_machine=False)
    lin = linear.linear
    assert linear.stage == "linear" and lin.protocol == "standard" and lin.optimizer == "lars"
    assert lin.batch_size * linear.trainer.devices == 1024 and lin.lr == 0.1 and lin.weight_decay == 0.0


def test_non_finite_loss_stops_training_with_a_clear_error():
    module = method_module("plain", "method.emb=16", "method.head_size=32", "method.w_size=8")
    module.compute_loss = lambda embeddings, views, measure=False: LossOutput(embeddings.sum() * float("nan"))
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        log_every_n_steps=1,
    )
    with pytest.raises(NonFiniteLossError, match=r"non-finite \(nan or inf\) at step 0 \(epoch 0\).*lower method.lr"):
        trainer.fit(module, train_dataloaders=DataLoader(RandomViews(), batch_size=8, drop_last=True))


def test_a_backbone_refuses_a_setting_it_does_not_have():
    from whitening_ssl.models import build_backbone

    with pytest.raises(
        ValueError,
        match=r"^backbone.small_stem is not a setting of backbone=resnet18 \(its own "
        r"settings: none\)$",
    ):
        build_backbone("resnet18", stem="cifar", small_stem=True)
    with pytest.raises(ValueError, match=r"^backbone=resnet_tiny needs backbone.width"):
        build_backbone("resnet_tiny", stem="cifar")
    assert build_backbone("resnet_tiny", stem="cifar", width=4)[1] == 32


# --- what compute_loss returns -------------------------------------------------------------------------------

METHOD_PRESETS = sorted(path.stem for path in (CONF / "method").glob("*.yaml"))


@pytest.mark.parametrize("name", METHOD_PRESETS)
def test_compute_loss_returns_the_whitened_output_only_on_measured_steps(name):
    """A LossOutput: the same loss either way; with ``measure`` the whitening methods' blocks ``[k, V, m, d]``
    (detached, what the loss whitened: its loss again from them), without it nothing kept."""
    module = method_module(name)
    method = module.method
    batch = method.get("w_size", 16)  # one sub-batch
    embeddings = torch.randn(module.num_views - bool(method.get("momentum_encoder")), batch, method["emb"])
    views = [torch.randn(batch, 3, 16, 16) for _ in range(module.num_views)]
    torch.manual_seed(0)
    plain = module.compute_loss(embeddings, views)
    torch.manual_seed(0)
    measured = module.compute_loss(embeddings, views, measure=True)
    assert isinstance(plain, LossOutput) and plain.whitened is None and torch.isfinite(plain.loss)
    assert torch.equal(plain.loss, measured.loss) and plain.terms.keys() == measured.terms.keys()
    if type(module).whitened_blocks is PretrainModule.whitened_blocks:  # a method without a whitening
        assert measured.whitened is None
        return
    blocks = measured.whitened
    assert blocks.ndim == 4 and blocks.shape[1] == module.num_views and blocks.shape[-1] == method["emb"]
    assert not blocks.requires_grad
    again = module.loss_fn(blocks[0]) if method["family"] == "intl" else module.loss_fn.pair_loss(blocks[None])
    assert torch.allclose(again, measured.loss.detach(), rtol=1e-5, atol=1e-6)
