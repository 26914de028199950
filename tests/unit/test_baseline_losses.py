"""Baseline losses: batched modules == plain per-pair formulas written with Python loops."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from whitening_ssl.losses import (
    BarlowTwinsLoss,
    BYOLLoss,
    NTXentLoss,
    SimSiamLoss,
    VICRegLoss,
    ZeroICLLoss,
    view_pairs,
)
from whitening_ssl.schedules import byol_tau


def _views(num_views, n, d, seed=0):
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(n, d, generator=gen, dtype=torch.float64)
    views = [base + 0.5 * torch.randn(n, d, generator=gen, dtype=torch.float64) for _ in range(num_views)]
    return torch.stack(views).requires_grad_()


def _unordered(num_views):
    return [(i, j) for i in range(num_views) for j in range(i + 1, num_views)]


def _ordered(num_views):
    return [(i, j) for i in range(num_views) for j in range(num_views) if i != j]


def _off_diagonal(x):
    n, m = x.shape
    assert n == m
    return x.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def _assert_same(got, expected, inputs, atol=1e-10):
    """Equal values, and equal gradients w.r.t. every input (None where there is none)."""
    assert torch.allclose(got, expected, atol=atol, rtol=0), (got.item(), expected.item())
    g_got = torch.autograd.grad(got, inputs, allow_unused=True)
    g_exp = torch.autograd.grad(expected, inputs, allow_unused=True)
    for a, b in zip(g_got, g_exp):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, atol=atol, rtol=0)
    return g_got


# --- view_pairs ------------------------------------------------------------------------------


@pytest.mark.parametrize("ordered", [False, True])
def test_view_pairs_lists_the_right_pairs(ordered):
    num_views = 4
    z = torch.arange(num_views, dtype=torch.float64).view(num_views, 1, 1).expand(num_views, 3, 2)
    first, second = view_pairs(z, ordered=ordered)
    expected = _ordered(num_views) if ordered else _unordered(num_views)
    assert first.shape == second.shape == (len(expected), 3, 2)
    got = list(zip(first[:, 0, 0].long().tolist(), second[:, 0, 0].long().tolist()))
    assert got == expected
    if ordered:
        assert got == list(itertools.permutations(range(num_views), 2))
    else:
        assert got == list(itertools.combinations(range(num_views), 2))


def test_view_pairs_other_view_dim_and_errors():
    z = torch.randn(5, 3, 7)  # views on dim 1
    first, second = view_pairs(z, view_dim=1)
    assert first.shape == (3, 5, 7)
    assert torch.equal(first[2], z[:, 1]) and torch.equal(second[2], z[:, 2])
    first, second = view_pairs(z, view_dim=1, ordered=True)
    assert first.shape == (6, 5, 7)
    assert torch.equal(first[2], z[:, 1]) and torch.equal(second[2], z[:, 0])
    with pytest.raises(ValueError, match="at least 2 views"):
        view_pairs(torch.randn(1, 4, 3))


# --- NT-Xent ---------------------------------------------------------------------------------


def contrastive_loss(x0, x1, tau, norm):
    """The paper's / W-MSE's reference (CPU)."""
    bsize = x0.shape[0]
    target = torch.arange(bsize)
    eye_mask = torch.eye(bsize) * 1e9
    if norm:
        x0 = F.normalize(x0, p=2, dim=1)
        x1 = F.normalize(x1, p=2, dim=1)
    logits00 = x0 @ x0.t() / tau - eye_mask
    logits11 = x1 @ x1.t() / tau - eye_mask
    logits01 = x0 @ x1.t() / tau
    logits10 = x1 @ x0.t() / tau
    return (
        F.cross_entropy(torch.cat([logits01, logits00], dim=1), target)
        + F.cross_entropy(torch.cat([logits10, logits11], dim=1), target)
    ) / 2


@pytest.mark.parametrize("num_views", [2, 3, 4])
@pytest.mark.parametrize("tau", [0.5, 0.2])
def test_ntxent_equals_reference_loop(num_views, tau):
    z = _views(num_views, 8, 5)
    got = NTXentLoss(temperature=tau)(z)
    pairs = _unordered(num_views)
    expected = sum(contrastive_loss(z[i], z[j], tau, True) for i, j in pairs) / len(pairs)
    grads = _assert_same(got, expected, [z], atol=1e-6)
    assert all(g.abs().sum() > 0 for g in grads[0])  # every view receives gradients


def test_ntxent_accepts_a_list_of_views():
    z = _views(2, 6, 4)
    assert torch.allclose(NTXentLoss()(list(z)), NTXentLoss()(z))


# --- BYOL ------------------------------------------------------------------------------------


def _norm_mse(x0, x1):
    x0, x1 = F.normalize(x0), F.normalize(x1)
    return 2 - 2 * (x0 * x1).sum(dim=-1).mean()


@pytest.mark.parametrize("num_views", [2, 3])
@pytest.mark.parametrize("sum_directions", [True, False])
def test_byol_equals_reference_loop_and_stops_target_gradients(num_views, sum_directions):
    pred, targ = _views(num_views, 7, 5, seed=1), _views(num_views, 7, 5, seed=2)
    got = BYOLLoss(sum_directions=sum_directions)(pred, targ)
    t = targ.detach()
    if sum_directions:  # the paper's code: both directions summed per unordered pair / num_pairs
        pairs = _unordered(num_views)
        expected = sum(_norm_mse(pred[i], t[j]) + _norm_mse(pred[j], t[i]) for i, j in pairs) / len(pairs)
    else:
        pairs = _ordered(num_views)
        expected = sum(_norm_mse(pred[i], t[j]) for i, j in pairs) / len(pairs)
    g_pred, g_targ = _assert_same(got, expected, [pred, targ])
    assert g_targ is None  # no gradient into the EMA targets
    assert g_pred.abs().sum() > 0


def test_byol_two_views_is_the_symmetrised_byol_loss():
    pred, targ = _views(2, 6, 4, seed=3), _views(2, 6, 4, seed=4)
    symmetric = _norm_mse(pred[0], targ[1]) + _norm_mse(pred[1], targ[0])
    assert torch.allclose(BYOLLoss()(pred, targ), symmetric)
    assert torch.allclose(BYOLLoss(sum_directions=False)(pred, targ), symmetric / 2)


def test_byol_tau_schedule():
    assert byol_tau(0.0) == pytest.approx(0.99, abs=1e-15)
    assert byol_tau(1.0) == pytest.approx(1.0, abs=1e-15)
    assert byol_tau(0.5) == pytest.approx(0.995, abs=1e-15)
    assert byol_tau(0.0, base_tau=0.9) == pytest.approx(0.9)
    taus = [byol_tau(p / 10) for p in range(11)]
    assert taus == sorted(taus)


# --- SimSiam ---------------------------------------------------------------------------------


def _neg_cosine(p, z):  # the paper's cosine_loss
    return -nn.CosineSimilarity(dim=-1)(p, z).mean()


@pytest.mark.parametrize("num_views", [2, 4])
def test_simsiam_equals_reference_loop_and_stops_projection_gradients(num_views):
    pred, proj = _views(num_views, 7, 5, seed=5), _views(num_views, 7, 5, seed=6)
    got = SimSiamLoss()(pred, proj)
    z = proj.detach()
    pairs = _ordered(num_views)
    expected = sum(_neg_cosine(pred[i], z[j]) for i, j in pairs) / len(pairs)
    g_pred, g_proj = _assert_same(got, expected, [pred, proj])
    assert g_proj is None  # stop-gradient on the projection side
    assert g_pred.abs().sum() > 0
    if num_views == 2:
        assert torch.allclose(got, (_neg_cosine(pred[0], z[1]) + _neg_cosine(pred[1], z[0])) / 2)


def test_simsiam_projection_gradient_flows_only_through_predictions():
    proj = _views(2, 6, 4, seed=7)
    predictor = nn.Linear(4, 4).double()
    loss = SimSiamLoss()(predictor(proj), proj)
    (g_proj,) = torch.autograd.grad(loss, proj)
    pred = predictor(proj)
    expected = (_neg_cosine(pred[0], proj[1].detach()) + _neg_cosine(pred[1], proj[0].detach())) / 2
    (g_exp,) = torch.autograd.grad(expected, proj)
    assert torch.allclose(g_proj, g_exp, atol=1e-12)


def test_pair_inputs_must_match():
    with pytest.raises(ValueError, match="same shape"):
        BYOLLoss()(torch.randn(2, 4, 3), torch.randn(2, 4, 5))


# --- Barlow Twins ----------------------------------------------------------------------------


@pytest.mark.parametrize("num_views", [2, 3])
@pytest.mark.parametrize("scale", ["embedding", "batch"])
def test_barlow_twins_equals_reference_loop(num_views, scale):
    n, d, lambd = 9, 6, 0.008
    z = _views(num_views, n, d, seed=8)
    got = BarlowTwinsLoss(lambd=lambd, scale=scale, normalization="fixed")(z)
    bn = nn.BatchNorm1d(d, affine=False).double().train()
    pairs = _unordered(num_views)
    expected = 0
    for i, j in pairs:
        c = bn(z[i]).T @ bn(z[j]) / (d if scale == "embedding" else n)
        on_diag = (torch.diagonal(c) - 1).pow(2).sum()
        off_diag = _off_diagonal(c).pow(2).sum()
        expected = expected + on_diag + lambd * off_diag
    expected = expected / len(pairs)
    grads = _assert_same(got, expected, [z])
    assert all(g.abs().sum() > 0 for g in grads[0])


@pytest.mark.parametrize("num_views", [2, 3])
def test_learnable_barlow_twins_batchnorm_equals_the_papers_per_view_module(num_views):
    """The paper's code: ``self.bn = nn.BatchNorm1d(emb)`` (affine, trained), called on each view."""
    n, d, lambd = 9, 6, 0.008
    z = _views(num_views, n, d, seed=12)
    loss = BarlowTwinsLoss(lambd=lambd, normalization="learnable", num_features=d).double()
    reference_bn = nn.BatchNorm1d(d).double().train()
    with torch.no_grad():  # non-trivial affine parameters, the same in both
        for module in (loss.bn, reference_bn):
            module.weight.copy_(torch.linspace(0.5, 1.5, d, dtype=torch.float64))
            module.bias.copy_(torch.linspace(-0.2, 0.3, d, dtype=torch.float64))
    got = loss(z)
    normed = [reference_bn(z[v]) for v in range(num_views)]  # one call per view, as the paper's code
    pairs = _unordered(num_views)
    expected = 0
    for i, j in pairs:
        c = normed[i].T @ normed[j] / d
        expected = expected + (torch.diagonal(c) - 1).pow(2).sum() + lambd * _off_diagonal(c).pow(2).sum()
    expected = expected / len(pairs)
    inputs = [z, loss.bn.weight, loss.bn.bias]
    grads_got = torch.autograd.grad(got, inputs)
    grads_expected = torch.autograd.grad(expected, [z, reference_bn.weight, reference_bn.bias])
    assert torch.allclose(got, expected, atol=1e-12)
    for a, b in zip(grads_got, grads_expected):
        assert torch.allclose(a, b, atol=1e-10) and b.abs().sum() > 0  # the affine parameters are trained
    assert torch.allclose(loss.bn.running_mean, reference_bn.running_mean, atol=1e-12)
    assert torch.allclose(loss.bn.running_var, reference_bn.running_var, atol=1e-12)
    assert int(loss.bn.num_batches_tracked) == int(reference_bn.num_batches_tracked) == num_views


def test_barlow_twins_rejects_unknown_settings():
    with pytest.raises(ValueError, match="scale"):
        BarlowTwinsLoss(scale="features", normalization="fixed")
    with pytest.raises(ValueError, match="normalization"):
        BarlowTwinsLoss(normalization="layer")
    with pytest.raises(ValueError, match="num_features"):
        BarlowTwinsLoss(normalization="learnable")


# --- VICReg ----------------------------------------------------------------------------------


def _vicreg_pair(x, y, var_factor, cov_factor, sim=25.0, var=25.0, cov=1.0):
    """facebookresearch/vicreg's formula with the two view-averaging factors made explicit."""
    n, d = x.shape
    repr_loss = F.mse_loss(x, y)
    x = x - x.mean(dim=0)
    y = y - y.mean(dim=0)
    std_x = torch.sqrt(x.var(dim=0) + 0.0001)
    std_y = torch.sqrt(y.var(dim=0) + 0.0001)
    std_loss = var_factor * (torch.mean(F.relu(1 - std_x)) + torch.mean(F.relu(1 - std_y)))
    cov_x = (x.T @ x) / (n - 1)
    cov_y = (y.T @ y) / (n - 1)
    cov_loss = cov_factor * (_off_diagonal(cov_x).pow(2).sum() / d + _off_diagonal(cov_y).pow(2).sum() / d)
    return sim * repr_loss + var * std_loss + cov * cov_loss


@pytest.mark.parametrize("num_views", [2, 3])
@pytest.mark.parametrize(
    "convention,var_factor,cov_factor", [("paper", 1, 1), ("official", 0.5, 1), ("mean", 0.5, 0.5)]
)
def test_vicreg_equals_reference_loop(num_views, convention, var_factor, cov_factor):
    # small scale so that some features have std < 1 and the variance hinge is active
    z = (_views(num_views, 10, 6, seed=9) * torch.linspace(0.3, 1.5, 6, dtype=torch.float64)).detach().requires_grad_()
    got = VICRegLoss(convention=convention)(z)
    pairs = _unordered(num_views)
    expected = sum(_vicreg_pair(z[i], z[j], var_factor, cov_factor) for i, j in pairs) / len(pairs)
    _assert_same(got, expected, [z])


def test_vicreg_weights_and_unknown_convention():
    z = _views(2, 8, 4, seed=10)
    got = VICRegLoss(sim_weight=2.0, var_weight=3.0, cov_weight=0.5)(z)
    assert torch.allclose(got, _vicreg_pair(z[0], z[1], 1, 1, sim=2.0, var=3.0, cov=0.5))
    with pytest.raises(ValueError, match="convention"):
        VICRegLoss(convention="halved")


# --- Zero-ICL --------------------------------------------------------------------------------


def _standardization(data, dim=-1):  # the paper's code
    mu = torch.mean(data, dim=dim, keepdim=True)
    sigma = torch.std(data, dim=dim, keepdim=True)
    return (data - mu) / sigma


def _zca_forward(x, detach=True):
    """The paper's WhitenTran.zca_forward (x is [d, N]), in float64, SVD, optional detach."""
    batch_size, feature_dim = x.size()
    f_cov = torch.mm(x.transpose(0, 1), x) / (batch_size - 1)
    eye = torch.eye(feature_dim, dtype=x.dtype)
    u, s, _ = torch.linalg.svd(0.9 * f_cov + 0.1 * eye)
    rotate_mtx = torch.mm(torch.mm(u, torch.diag(1.0 / torch.sqrt(s + 1e-5))), u.transpose(0, 1))
    if detach:
        rotate_mtx = rotate_mtx.detach()
    return torch.mm(rotate_mtx, x.transpose(0, 1)).transpose(0, 1)


def _zero_icl_pair(z1, z2, detach=True):
    hidden = z1.size(1)
    z1 = _zca_forward(_standardization(z1).transpose(0, 1), detach)  # d x N
    z2 = _zca_forward(_standardization(z2).transpose(0, 1), detach)
    c = torch.mm(z1.transpose(0, 1), z2) / hidden
    return (torch.diagonal(c) - 1).pow(2).sum()


@pytest.mark.parametrize("num_views", [2, 3])
@pytest.mark.parametrize("n,d", [(8, 6), (6, 12)])
def test_zero_icl_equals_reference_loop_with_detached_whitening(num_views, n, d):
    z = _views(num_views, n, d, seed=11)
    got = ZeroICLLoss()(z)
    pairs = _unordered(num_views)
    expected = sum(_zero_icl_pair(z[i], z[j]) for i, j in pairs) / len(pairs)
    (g_got,) = _assert_same(got, expected, [z], atol=1e-9)
    assert all(g.abs().sum() > 0 for g in g_got)

    # the whitening matrix carries no gradient: a version that backpropagates through it differs
    attached = sum(_zero_icl_pair(z[i], z[j], detach=False) for i, j in pairs) / len(pairs)
    assert torch.allclose(attached, got, atol=1e-9)
    (g_attached,) = torch.autograd.grad(attached, z)
    assert not torch.allclose(g_attached, g_got, atol=1e-6)


def test_zero_icl_whitening_matrices_whiten_and_are_detached():
    z = _views(3, 6, 10, seed=12)
    loss_fn = ZeroICLLoss(shrinkage=0.1, eps=0.0)
    x = _standardization(z)
    w = loss_fn.whitening_matrices(x)
    assert w.shape == (3, 6, 6) and not w.requires_grad
    cov = x @ x.transpose(-1, -2) / (10 - 1)
    shrunk = 0.9 * cov + 0.1 * torch.eye(6, dtype=torch.float64)
    eye = torch.eye(6, dtype=torch.float64).expand(3, 6, 6)
    assert torch.allclose(w @ shrunk @ w.transpose(-1, -2), eye, atol=1e-10)
    assert torch.allclose(w, w.transpose(-1, -2), atol=1e-12)  # ZCA: symmetric


# --- common ----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [NTXentLoss, lambda: BarlowTwinsLoss(num_features=4), VICRegLoss, ZeroICLLoss])
def test_single_view_losses_reject_one_view_and_accept_half_precision(make):
    loss_fn = make()
    with pytest.raises(ValueError, match="at least 2 views"):
        loss_fn(torch.randn(1, 8, 4))
    with pytest.raises(ValueError, match=r"\[views, batch, dim\]"):
        loss_fn(torch.randn(8, 4))
    z = torch.randn(2, 8, 4, dtype=torch.bfloat16)
    out = loss_fn(z)
    assert out.dtype == torch.float32 and math.isfinite(out.item())
    assert torch.allclose(out, loss_fn(z.float()))


@pytest.mark.parametrize("make", [BYOLLoss, SimSiamLoss])
def test_two_input_losses_accept_half_precision(make):
    p, t = torch.randn(2, 8, 4, dtype=torch.bfloat16), torch.randn(2, 8, 4, dtype=torch.bfloat16)
    out = make()(p, t)
    assert out.dtype == torch.float32 and torch.allclose(out, make()(p.float(), t.float()))
