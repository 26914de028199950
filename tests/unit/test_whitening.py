import re

import pytest
import torch

from whitening_ssl.reference import REFERENCE_MATRICES, REFERENCE_PER_CHANNEL, whiten_block_reference
from whitening_ssl.whitening import WHITENINGS, Whitening, draw_channel_permutations, whiten

#: the registered kinds whose output is white (full-rank factorisations of the covariance)
KINDS = [name for name, kind in WHITENINGS.items() if kind.uses_covariance and kind.full_rank]


def test_every_registered_kind_has_a_literal_reference_for_the_tests():
    missing = [name for name in WHITENINGS if name not in REFERENCE_MATRICES and name not in REFERENCE_PER_CHANNEL]
    assert not missing, f"add a plain-loop reference of {missing} to whitening_ssl.reference"


def _close_up_to_pca_sign(a, b, kind, atol=1e-8):
    """PCA's eigenvector signs are arbitrary (SVD vs eigh): compare magnitudes for pca."""
    if kind == "pca":
        a, b = a.abs(), b.abs()
    return torch.allclose(a, b, atol=atol)


def _blocks(num_blocks, m, d, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    mixing = torch.randn(d, d, generator=gen, dtype=dtype)
    x = torch.randn(num_blocks, m, d, generator=gen, dtype=dtype) @ mixing + 3.0
    return x


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_batch_whitening_gives_identity_channel_covariance(kind, groups):
    m, d = 64, 16
    x = _blocks(3, m, d)
    z = whiten(x, kind=kind, axis="batch", groups=groups)
    assert z.dtype == torch.float64
    c = d // groups
    for block in z:
        assert torch.allclose(block.mean(0), torch.zeros(d, dtype=z.dtype), atol=1e-10)
        for g in range(groups):
            zg = block[:, g * c : (g + 1) * c]
            cov = zg.T @ zg / (m - 1)
            assert torch.allclose(cov, torch.eye(c, dtype=z.dtype), atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_channel_whitening_gives_identity_sample_covariance(kind, groups):
    m, d = 8, 64  # c = d / groups > m so each group's m x m covariance has full rank
    x = _blocks(3, m, d, seed=1)
    z = whiten(x, kind=kind, axis="channel", groups=groups)
    c = d // groups
    for block in z:
        for g in range(groups):
            zg = block[:, g * c : (g + 1) * c]  # [m, c]: samples are the variables
            cov = zg @ zg.T / (c - 1)
            assert torch.allclose(cov, torch.eye(m, dtype=z.dtype), atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_channel_whitening_centres_each_sample_over_all_channels(kind):
    # With one group the per-sample centring over d is exact: output rows have zero mean.
    x = _blocks(2, 8, 32, seed=2)
    z = whiten(x, kind=kind, axis="channel", groups=1)
    if kind != "pca":  # pca rotates samples, so rows are recombined; zca/cholesky keep the mean
        assert torch.allclose(z.mean(-1), torch.zeros(2, 8, dtype=z.dtype), atol=1e-10)
    # the centring is over all d channels, not per group: compare with the literal reference
    for blk, out in zip(x, whiten(x, kind=kind, axis="channel", groups=2)):
        assert _close_up_to_pca_sign(out, whiten_block_reference(blk, kind, "channel", 2), kind)


def test_bn_gives_unit_per_channel_variance():
    x = _blocks(4, 32, 10)
    z = whiten(x, kind="bn", axis="batch")
    assert torch.allclose(z.mean(1), torch.zeros(4, 10, dtype=z.dtype), atol=1e-10)
    assert torch.allclose(z.var(1, unbiased=False), torch.ones(4, 10, dtype=z.dtype), atol=1e-10)


def test_none_is_identity():
    x = _blocks(2, 8, 4)
    assert torch.equal(whiten(x, kind="none"), x)


@pytest.mark.parametrize("kind", list(WHITENINGS))
@pytest.mark.parametrize("axis,m,d,groups", [("batch", 32, 8, 2), ("channel", 8, 32, 2), ("batch", 16, 8, 1)])
def test_batched_values_and_gradients_equal_reference_loop(kind, axis, m, d, groups):
    x = _blocks(5, m, d, seed=3).requires_grad_()
    weights = torch.randn(5, m, d, dtype=torch.float64)
    z = whiten(x, kind=kind, axis=axis, groups=groups, eps=0.1)
    (z * weights).sum().backward()
    grad_batched = x.grad.clone()

    x_ref = x.detach().clone().requires_grad_()
    ref = torch.stack([whiten_block_reference(b, kind, axis, groups, eps=0.1) for b in x_ref])
    (ref * weights).sum().backward()
    assert _close_up_to_pca_sign(z, ref, kind)
    if kind != "pca":  # pca's eigenvector signs are arbitrary, so only zca/cholesky/bn compare
        assert torch.allclose(grad_batched, x_ref.grad, atol=1e-7)


@pytest.mark.parametrize("axis,m,d", [("batch", 32, 8), ("channel", 8, 32)])
def test_random_groups_use_given_permutations_and_restore_channel_order(axis, m, d):
    x = _blocks(6, m, d, seed=4)
    perms = draw_channel_permutations(6, d)
    z = whiten(x, kind="zca", axis=axis, groups=4 if axis == "channel" else 2, permutation=perms)
    for blk, out, perm in zip(x, z, perms):
        ref = whiten_block_reference(blk, "zca", axis, 4 if axis == "channel" else 2, permutation=perm)
        assert torch.allclose(out, ref, atol=1e-8)
    # restoring the order matters: the grouping differs from the unpermuted one
    plain = whiten(x, kind="zca", axis=axis, groups=4 if axis == "channel" else 2)
    assert not torch.allclose(z, plain, atol=1e-4)


def test_random_groups_draw_a_fresh_permutation_per_block():
    x = _blocks(12, 8, 64, seed=5)
    torch.manual_seed(123)
    z = Whitening("zca", "channel", groups=4, random_groups=True)(x)
    torch.manual_seed(123)
    perms = draw_channel_permutations(12, 64)
    assert len({tuple(p.tolist()) for p in perms}) == 12
    assert torch.allclose(z, whiten(x, "zca", "channel", 4, permutation=perms), atol=1e-10)


def test_half_precision_and_autocast_whiten_in_float32():
    x = _blocks(2, 32, 8, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = whiten(x.bfloat16(), kind="zca", axis="batch")
    assert z.dtype == torch.float32
    cov = z[0].T @ z[0] / 31
    assert torch.allclose(cov, torch.eye(8), atol=1e-3)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (
            dict(kind="svd"),
            "^whiten='svd' is not available: use one of "
            + re.escape(", ".join(WHITENINGS))
            + ", or module.name of your own$",
        ),
        (dict(kind="zca", axis="rows"), r"^axis='rows' is not available: use one of batch, channel$"),
        (dict(kind="zca", groups=3), "not divisible by whitening groups"),
        (dict(kind="zca", eps=1.5), r"^eps=1.5 must be below 1.0$"),
        (
            dict(kind="zca", groups=0, denom_offset=-1),
            r"^groups=0 must be at least 1\ndenom_offset=-1 must be at least 0$",
        ),
        (
            dict(kind="zca", alpha=2),
            r"^alpha=2 is not a setting of whitening kind zca \(its settings: solver, newton_iters\)$",
        ),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):  # ConfigError: a ValueError with one line per problem
        whiten(torch.randn(2, 8, 4), **kwargs)


@pytest.mark.parametrize("eps,offset", [(0.0, 1), (0.2, 0)])
@pytest.mark.parametrize("name", ["CholeskyWhitening", "ZCAWhitening"])
def test_closed_form_backward_passes_gradcheck(name, eps, offset):
    import whitening_ssl.whitening as module

    function = getattr(module, name)
    x = _blocks(2, 12, 4, seed=6)
    x = (x - x.mean(1, keepdim=True)).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: function.apply(t, eps, offset), (x,))


def test_zca_gradient_is_exact_with_repeated_eigenvalues():
    # an exactly white block (zero-mean orthogonal columns): all eigenvalues of S equal 1. There
    # W = S^-1/2 has dW = -dS / 2, so dLoss/dX = P (G - X sym(X^T G) / (m - 1)) with P the centring.
    # The closed form gets it; autograd through eigh is undefined there and returns something else.
    torch.manual_seed(0)
    a = torch.randn(16, 4, dtype=torch.float64)
    q, _ = torch.linalg.qr(a - a.mean(0))
    x = (q * 15**0.5).unsqueeze(0).requires_grad_()
    weights = torch.randn(1, 16, 4, dtype=torch.float64)
    (whiten(x, kind="zca", axis="batch") * weights).sum().backward()

    g, xd = weights[0], x.detach()[0]
    analytic = g - xd @ ((xd.T @ g + g.T @ xd) / 2) / 15
    analytic = analytic - analytic.mean(0)
    assert torch.allclose(x.grad[0], analytic, atol=1e-10)

    x_eigh = x.detach().clone().requires_grad_()
    xc = x_eigh - x_eigh.mean(1, keepdim=True)
    eigenvalues, eigenvectors = torch.linalg.eigh(xc.transpose(1, 2) @ xc / 15)
    assert torch.allclose(eigenvalues, torch.ones(1, 4, dtype=torch.float64))
    plain = xc @ (eigenvectors * eigenvalues.rsqrt().unsqueeze(-2)) @ eigenvectors.transpose(1, 2)
    (plain * weights).sum().backward()
    assert not torch.allclose(x_eigh.grad, x.grad, atol=1e-3)


# --- the Newton-Schulz solver (method.solver=newton) ------------------------------------------------


def _conditioned_blocks(num_blocks, n, c, condition, seed):
    """Centred blocks whose covariance has eigenvalues spread log-uniformly over ``condition``."""
    gen = torch.Generator().manual_seed(seed)
    blocks = []
    for _ in range(num_blocks):
        u, _ = torch.linalg.qr(torch.randn(c, c, generator=gen, dtype=torch.float64))
        spectrum = torch.logspace(0, -torch.log10(torch.tensor(float(condition))).item(), c, dtype=torch.float64)
        x = torch.randn(n, c, generator=gen, dtype=torch.float64) @ (u * spectrum.sqrt()) @ u.T
        blocks.append(x)
    return torch.stack(blocks)


@pytest.mark.parametrize(
    "condition,iters,cov_tol,grad_tol",
    [
        (10, 10, 1e-5, 1e-4),  # well-conditioned: 10 iterations suffice
        (1000, 20, 1e-4, 1e-3),  # ill-conditioned: the default 20 iterations
    ],
)
def test_newton_solver_whitens_and_matches_eigh_gradients(condition, iters, cov_tol, grad_tol):
    """Stated accuracy (float32, as in training): max |Cov(Z) - I| and the max gradient difference to
    the exact eigendecomposition, relative to the gradient's largest entry."""
    x64 = _conditioned_blocks(3, 96, 32, condition, seed=condition)
    x = x64.float().requires_grad_()
    weights = torch.randn(3, 96, 32)
    z = whiten(x, kind="zca", axis="batch", solver="newton", newton_iters=iters)
    cov = z.transpose(1, 2) @ (z - z.mean(1, keepdim=True)) / 95
    assert (cov - torch.eye(32)).abs().max() < cov_tol
    (grad_newton,) = torch.autograd.grad((z * weights).sum(), x)
    x_exact = x64.clone().requires_grad_()
    (grad_exact,) = torch.autograd.grad((whiten(x_exact, kind="zca", axis="batch") * weights.double()).sum(), x_exact)
    assert ((grad_newton.double() - grad_exact).abs().max() / grad_exact.abs().max()) < grad_tol
    exact = whiten(x64, kind="zca", axis="batch")
    assert torch.allclose(z.double(), exact, atol=50 * cov_tol)


def test_newton_solver_in_channel_whitening_and_too_few_iterations():
    x = _blocks(2, 8, 64, seed=9).float()
    z = whiten(x, kind="zca", axis="channel", groups=4, solver="newton")
    assert torch.allclose(z, whiten(x, kind="zca", axis="channel", groups=4), atol=1e-4)
    # too few iterations under-whiten: the stated trade-off, visible in the output covariance
    few = whiten(
        _conditioned_blocks(1, 96, 32, 1000, seed=1).float(), kind="zca", axis="batch", solver="newton", newton_iters=5
    )[0]
    assert ((few.T @ few) / 95 - torch.eye(32)).abs().max() > 0.1


def test_newton_solver_is_for_zca_only():
    with pytest.raises(ValueError, match=r"^solver=newton applies to whiten=zca only \(whiten=cholesky\): remove it"):
        whiten(torch.randn(2, 8, 4), kind="cholesky", solver="newton")
    with pytest.raises(ValueError, match=r"^solver='qr' is not available: use one of eigh, newton$"):
        whiten(torch.randn(2, 8, 4), kind="zca", solver="qr")
