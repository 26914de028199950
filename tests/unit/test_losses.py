import pytest
import torch
import torch.nn.functional as F

from whitening_ssl.losses import WhiteningMSELoss, view_pair_mse
from whitening_ssl.reference import whitening_mse_reference
from whitening_ssl.whitening import Whitening, draw_channel_permutations


def _views(num_views, n, d, seed=0):
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return torch.stack([base + 0.5 * torch.randn(n, d, generator=gen, dtype=torch.float64) for _ in range(num_views)])


@pytest.mark.parametrize("num_views", [2, 4])
@pytest.mark.parametrize("norm", [True, False])
def test_view_pair_mse_equals_plain_formula(num_views, norm):
    z = _views(num_views, 6, 5).requires_grad_()
    got = view_pair_mse(z, normalize=norm)
    pairs = [(i, j) for i in range(num_views) for j in range(i + 1, num_views)]
    if norm:
        terms = [(2 - 2 * (F.normalize(z[i]) * F.normalize(z[j])).sum(-1)).mean() for i, j in pairs]
    else:
        terms = [((z[i] - z[j]) ** 2).mean() for i, j in pairs]
    expected = sum(terms) / len(pairs)
    assert torch.allclose(got, expected, atol=1e-12)
    (g_got,) = torch.autograd.grad(got, z)
    (g_exp,) = torch.autograd.grad(expected, z)
    assert torch.allclose(g_got, g_exp, atol=1e-12)


CONFIGS = [
    # kind, axis, groups, n, d, w_size, w_iter
    ("cholesky", "batch", 1, 32, 8, 16, 1),  # W-MSE
    ("zca", "batch", 2, 32, 8, 16, 2),  # batch ZCA in groups
    ("zca", "channel", 4, 16, 64, 8, 1),  # CW-RGP (random groups off)
    ("zca", "channel", 2, 16, 32, 8, 3),
    ("bn", "batch", 1, 16, 8, 8, 2),
    ("none", "batch", 1, 16, 8, 8, 1),
]


@pytest.mark.parametrize("num_views", [2, 4])
@pytest.mark.parametrize("norm", [True, False])
@pytest.mark.parametrize("kind,axis,groups,n,d,w_size,w_iter", CONFIGS)
def test_loss_values_and_gradients_equal_reference_loop(num_views, norm, kind, axis, groups, n, d, w_size, w_iter):
    h = _views(num_views, n, d, seed=1).requires_grad_()
    loss_fn = WhiteningMSELoss(Whitening(kind, axis, groups), w_size=w_size, w_iter=w_iter, norm=norm)
    torch.manual_seed(0)
    subbatches = loss_fn.draw_subbatches(n)
    assert sorted(subbatches[0].flatten().tolist()) == list(range(n))
    got = loss_fn(h, subbatches=subbatches)
    (g_got,) = torch.autograd.grad(got, h)

    h_ref = h.detach().clone().requires_grad_()
    expected = whitening_mse_reference(list(h_ref), subbatches, kind, axis, groups, norm=norm)
    expected.backward()
    assert torch.allclose(got, expected, atol=1e-9)
    assert torch.allclose(g_got, h_ref.grad, atol=1e-8)
    # every view receives gradients (no stop-gradient)
    if kind != "none" or norm:
        assert all(g.abs().sum() > 0 for g in g_got)


@pytest.mark.parametrize("num_views", [2, 4])
def test_random_group_loss_equals_reference_with_the_same_partitions(num_views):
    n, d, w_size, w_iter, groups = 16, 64, 8, 2, 4
    h = _views(num_views, n, d, seed=2).requires_grad_()
    loss_fn = WhiteningMSELoss(Whitening("zca", "channel", groups, random_groups=True), w_size=w_size, w_iter=w_iter)
    torch.manual_seed(7)
    got = loss_fn(h)
    (g_got,) = torch.autograd.grad(got, h)

    torch.manual_seed(7)  # replay the random draws: sub-batches first, then one permutation per block
    subbatches = loss_fn.draw_subbatches(n)
    k = n // w_size
    perms = draw_channel_permutations(w_iter * k * num_views, d).view(w_iter, k, num_views, d)
    # a fresh partition for every (iteration, sub-batch, view) block
    assert len({tuple(p.tolist()) for p in perms.view(-1, d)}) == w_iter * k * num_views

    h_ref = h.detach().clone().requires_grad_()
    expected = whitening_mse_reference(list(h_ref), subbatches, "zca", "channel", groups, permutations=perms)
    expected.backward()
    assert torch.allclose(got, expected, atol=1e-9)
    assert torch.allclose(g_got, h_ref.grad, atol=1e-8)


def test_list_input_and_bad_batch_size():
    loss_fn = WhiteningMSELoss(Whitening("cholesky", "batch"), w_size=8)
    views = [torch.randn(16, 4), torch.randn(16, 4)]
    assert loss_fn(views).shape == ()
    with pytest.raises(ValueError, match="not divisible by w_size"):
        loss_fn([torch.randn(12, 4), torch.randn(12, 4)])


def test_the_settings_are_checked_once_at_construction_not_every_step(monkeypatch):
    calls = []
    original = WhiteningMSELoss.check.__func__

    def check(cls, *args, **kwargs):
        calls.append(1)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(WhiteningMSELoss, "check", classmethod(check))
    loss_fn = WhiteningMSELoss(Whitening("cholesky", "batch"), w_size=8, w_iter=2)
    for _ in range(3):
        loss_fn(torch.randn(2, 16, 4))
    assert calls == [1]
