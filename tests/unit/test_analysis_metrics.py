"""Investigation metrics and plots on constructed matrices with known answers.

Tolerances: quantities computed in float64 from exactly constructed data are compared to 1e-9
(relative or absolute as stated); values read back from matplotlib are compared exactly or to 1e-12.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from whitening_ssl.analysis import (
    condition_number,
    covariance_spectrum,
    effective_rank,
    mean_block_spectral_metrics,
    negative_cosine_samples,
    negative_cosine_similarity,
    normalized_stable_rank,
    numerical_rank,
    positive_cosine_samples,
    positive_cosine_similarity,
    representation_metrics,
)
from whitening_ssl.analysis.plots import plot_cosine_histograms, plot_metric_curves, plot_spectra, save_figure

TOL = 1e-9
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def orthonormal_columns(n, d, seed=0):
    q, _ = torch.linalg.qr(torch.randn(n, d, dtype=torch.float64, generator=generator(seed)))
    return q


def whitened_data(n, d, seed=0):
    """Centred data with covariance exactly I (up to float64 rounding)."""
    x = torch.randn(n, d, dtype=torch.float64, generator=generator(seed))
    x = x - x.mean(0)
    eigenvalues, vectors = torch.linalg.eigh(x.T @ x / (n - 1))
    return x @ vectors @ torch.diag(eigenvalues.rsqrt()) @ vectors.T


def data_with_spectrum(n, eigenvalues, seed=0):
    """Centred data whose covariance is R diag(eigenvalues) R^T for a random orthogonal R."""
    d = len(eigenvalues)
    rotation = orthonormal_columns(d, d, seed + 1)
    return whitened_data(n, d, seed) @ torch.diag(torch.tensor(eigenvalues, dtype=torch.float64).sqrt()) @ rotation.T


def entropy_rank_by_hand(eigenvalues):
    total = sum(eigenvalues)
    return math.exp(-sum(v / total * math.log(v / total) for v in eigenvalues if v > 0))


def cosine_loop(a, b):
    return float(torch.dot(a, b) / (a.norm() * b.norm()))


# ---------------------------------------------------------------- ranks and spectra


def test_identity_covariance_data_is_full_rank_and_perfectly_conditioned():
    n, d = 300, 8
    z = whitened_data(n, d)
    spectrum = covariance_spectrum(z)
    assert torch.allclose(spectrum, torch.ones(d, dtype=torch.float64), atol=TOL)
    assert effective_rank(spectrum) == pytest.approx(d, rel=TOL)
    assert numerical_rank(spectrum) == d
    assert condition_number(spectrum) == pytest.approx(1.0, rel=TOL)
    # centred columns with equal norms sqrt(n - 1): all singular values equal -> normalised stable rank 1
    assert normalized_stable_rank(z) == pytest.approx(1.0, rel=TOL)


def test_stable_rank_of_orthogonal_and_chosen_singular_values():
    d = 6
    assert normalized_stable_rank(orthonormal_columns(d, d)) == pytest.approx(1.0, rel=TOL)
    assert normalized_stable_rank(3.0 * orthonormal_columns(40, d)) == pytest.approx(1.0, rel=TOL)
    singular_values = torch.tensor([5.0, 3.0, 2.0, 1.0, 0.5, 0.0], dtype=torch.float64)
    z = orthonormal_columns(50, d, seed=3) @ torch.diag(singular_values) @ orthonormal_columns(d, d, seed=4).T
    expected = (singular_values**2).sum() / singular_values[0] ** 2 / d
    assert normalized_stable_rank(z) == pytest.approx(float(expected), rel=TOL)
    # rank one -> the lower end 1/d
    rank_one = torch.randn(30, 1, generator=generator(5)) @ torch.randn(1, d, generator=generator(6))
    assert normalized_stable_rank(rank_one) == pytest.approx(1 / d, rel=1e-6)


def test_stable_rank_is_of_the_matrix_as_given_not_centred():
    d = 4
    constant = torch.ones(10, d)  # zero covariance, but as a matrix it has rank one
    assert normalized_stable_rank(constant) == pytest.approx(1 / d, rel=TOL)
    assert torch.allclose(covariance_spectrum(constant), torch.zeros(d, dtype=torch.float64), atol=TOL)
    # a large common offset on whitened data lowers the (uncentred) stable rank
    assert normalized_stable_rank(whitened_data(100, d) + 10.0) < 0.5
    assert normalized_stable_rank(torch.zeros(5, d)) == 0.0


def test_float32_input_is_measured_in_float64():
    z = torch.randn(64, 16, generator=generator(7)) * 1e3 + 5e3
    assert normalized_stable_rank(z) == pytest.approx(normalized_stable_rank(z.double()), rel=1e-12)
    assert covariance_spectrum(z).dtype == torch.float64
    assert torch.allclose(covariance_spectrum(z), covariance_spectrum(z.double()), rtol=1e-12, atol=0)


def test_known_spectrum_is_recovered_and_effective_rank_equals_exp_entropy():
    eigenvalues = [0.25, 4.0, 1.0, 2.0, 0.5, 0.125]
    z = data_with_spectrum(200, eigenvalues)
    spectrum = covariance_spectrum(z)
    expected = torch.tensor(sorted(eigenvalues, reverse=True), dtype=torch.float64)
    assert torch.allclose(spectrum, expected, rtol=TOL, atol=TOL)
    assert effective_rank(spectrum) == pytest.approx(entropy_rank_by_hand(eigenvalues), rel=TOL)
    assert effective_rank(torch.tensor(eigenvalues)) == pytest.approx(entropy_rank_by_hand(eigenvalues), rel=1e-6)
    assert condition_number(spectrum) == pytest.approx(4.0 / 0.125, rel=TOL)
    assert numerical_rank(spectrum) == 6
    assert numerical_rank(spectrum, tol=0.2) == 3  # 4, 2, 1 exceed 0.2 x 4 = 0.8; 0.5 does not


def test_covariance_spectrum_uses_n_minus_one_and_is_descending():
    z = torch.randn(9, 5, dtype=torch.float64, generator=generator(8))
    centred = z - z.mean(0)
    reference = torch.linalg.eigvalsh(centred.T @ centred / 8).flip(0)
    spectrum = covariance_spectrum(z)
    assert torch.allclose(spectrum, reference, rtol=TOL, atol=TOL)
    assert torch.all(spectrum[:-1] >= spectrum[1:])


def test_rank_k_data():
    n, d, k = 120, 10, 3
    z = torch.randn(n, k, dtype=torch.float64, generator=generator(9)) @ torch.randn(
        k, d, dtype=torch.float64, generator=generator(10)
    )
    spectrum = covariance_spectrum(z)
    assert numerical_rank(spectrum) == k
    assert effective_rank(spectrum) <= k + TOL
    assert effective_rank(spectrum) > 1.0
    assert condition_number(spectrum) > 1e10  # rounding-size smallest eigenvalue or inf


def test_zeros_and_rounding_negatives_are_ignored():
    with_zeros = torch.tensor([3.0, 1.0, 0.0, -1e-14], dtype=torch.float64)
    assert effective_rank(with_zeros) == pytest.approx(entropy_rank_by_hand([3.0, 1.0]), rel=TOL)
    assert numerical_rank(with_zeros) == 2
    assert condition_number(with_zeros) == math.inf
    assert condition_number(torch.tensor([2.0, 0.0])) == math.inf
    assert effective_rank(torch.zeros(4)) == 0.0
    assert numerical_rank(torch.zeros(4)) == 0


def test_invalid_inputs_raise_one_clear_error():
    with pytest.raises(ValueError, match="covariance"):
        effective_rank(torch.tensor([1.0, -0.5]))
    with pytest.raises(ValueError, match=r"\[n, d\]"):
        normalized_stable_rank(torch.ones(3))
    with pytest.raises(ValueError, match="at least 2 samples"):
        covariance_spectrum(torch.ones(1, 3))
    with pytest.raises(ValueError, match="V >= 2"):
        positive_cosine_similarity(torch.ones(1, 4, 3))
    with pytest.raises(ValueError, match="N >= 2"):
        negative_cosine_similarity(torch.ones(1, 3))


# ---------------------------------------------------------------- cosine similarities


def test_cosines_on_hand_built_vectors():
    basis = torch.eye(4)
    assert positive_cosine_similarity(torch.stack([basis, basis, 2 * basis])) == pytest.approx(1.0, abs=TOL)
    assert positive_cosine_similarity(torch.stack([basis, basis.roll(1, dims=1)])) == pytest.approx(0.0, abs=TOL)
    assert positive_cosine_similarity(torch.stack([basis, -basis])) == pytest.approx(-1.0, abs=TOL)
    assert negative_cosine_similarity(basis) == pytest.approx(0.0, abs=TOL)  # orthogonal negatives
    assert negative_cosine_similarity(torch.ones(5, 3)) == pytest.approx(1.0, abs=TOL)  # full collapse
    # two vectors at 60 degrees
    pair = torch.tensor([[1.0, 0.0], [0.5, math.sqrt(3) / 2]], dtype=torch.float64)
    assert negative_cosine_similarity(pair) == pytest.approx(0.5, abs=TOL)


def test_cosines_match_reference_loops_over_pairs():
    views = torch.randn(3, 7, 5, dtype=torch.float64, generator=generator(11)) + 0.3
    num_views, num_images = views.shape[:2]
    positives = [
        cosine_loop(views[a, i], views[b, i])
        for i in range(num_images)
        for a in range(num_views)
        for b in range(a + 1, num_views)
    ]
    assert positive_cosine_similarity(views) == pytest.approx(sum(positives) / len(positives), abs=TOL)

    per_view = [
        np.mean([cosine_loop(views[v, i], views[v, j]) for i in range(num_images) for j in range(num_images) if i != j])
        for v in range(num_views)
    ]
    assert negative_cosine_similarity(views[0]) == pytest.approx(per_view[0], abs=TOL)
    assert negative_cosine_similarity(views) == pytest.approx(float(np.mean(per_view)), abs=TOL)

    all_negatives = sorted(
        cosine_loop(views[v, i], views[v, j])
        for v in range(num_views)
        for i in range(num_images)
        for j in range(i + 1, num_images)
    )
    assert np.allclose(sorted(negative_cosine_samples(views).tolist()), all_negatives, atol=TOL)
    assert np.allclose(sorted(positive_cosine_samples(views).tolist()), sorted(positives), atol=TOL)


def test_zero_vector_has_cosine_zero():
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    # pairs (i != j, ordered): only (1, 2) and (2, 1) have cosine 1 -> 2 / 6
    assert negative_cosine_similarity(z) == pytest.approx(2 / 6, abs=TOL)


def test_subsampled_negative_samples_are_seeded_true_negative_pairs():
    z = torch.randn(60, 8, dtype=torch.float64, generator=generator(12))
    unit = F.normalize(z, dim=1)
    similarity = unit @ unit.T
    off_diagonal = similarity[~torch.eye(60, dtype=torch.bool)]
    samples = negative_cosine_samples(z, max_samples=500, seed=3)
    assert samples.shape == (500,)
    assert torch.equal(samples, negative_cosine_samples(z, max_samples=500, seed=3))
    assert not torch.equal(samples, negative_cosine_samples(z, max_samples=500, seed=4))
    distance_to_a_true_pair = (samples[:, None] - off_diagonal[None, :]).abs().min(dim=1).values
    assert distance_to_a_true_pair.max() < TOL  # every sample is some i != j cosine (never the diagonal's 1)
    assert samples.max() < 1 - 1e-6
    # an unbiased estimate of the exact mean (500 samples of values with std ~0.35: 4 sigma ~ 0.07)
    assert abs(samples.mean().item() - negative_cosine_similarity(z)) < 0.07


def test_subsampled_positive_samples_are_seeded_true_positive_pairs():
    views = torch.randn(4, 50, 6, dtype=torch.float64, generator=generator(13))
    unit = F.normalize(views, dim=-1)
    all_pairs = torch.cat([(unit[a] * unit[b]).sum(-1) for a in range(4) for b in range(a + 1, 4)])
    samples = positive_cosine_samples(views, max_samples=100, seed=1)
    assert samples.shape == (100,)
    assert torch.equal(samples, positive_cosine_samples(views, max_samples=100, seed=1))
    assert (samples[:, None] - all_pairs[None, :]).abs().min(dim=1).values.max() < TOL
    assert len(set(samples.tolist())) == 100  # without replacement


# ---------------------------------------------------------------- the bundle


def test_representation_metrics_bundles_the_functions_with_stable_names():
    views = torch.stack([whitened_data(80, 6, seed=1), whitened_data(80, 6, seed=2)])
    metrics = representation_metrics(views, "whitened")
    assert set(metrics) == {
        f"whitened/{name}"
        for name in (
            "stable_rank",
            "effective_rank",
            "effective_rank_fraction",
            "rank",
            "condition_number",
            "negative_cosine",
            "positive_cosine",
        )
    }
    assert all(isinstance(value, float) for value in metrics.values())
    rows = views.reshape(-1, 6)
    spectrum = covariance_spectrum(rows)
    assert metrics["whitened/stable_rank"] == normalized_stable_rank(rows)
    assert metrics["whitened/effective_rank"] == effective_rank(spectrum)
    assert metrics["whitened/effective_rank_fraction"] == pytest.approx(effective_rank(spectrum) / 6, rel=TOL)
    assert metrics["whitened/rank"] == 6.0
    assert metrics["whitened/condition_number"] == condition_number(spectrum)
    assert metrics["whitened/negative_cosine"] == negative_cosine_similarity(views)
    assert metrics["whitened/positive_cosine"] == positive_cosine_similarity(views)
    assert metrics["whitened/effective_rank_fraction"] > 0.95

    collapsed = representation_metrics(torch.randn(50, 1, generator=generator(3)) * torch.ones(1, 6), "embedding")
    assert "embedding/positive_cosine" not in collapsed
    assert collapsed["embedding/rank"] == 1.0
    assert collapsed["embedding/effective_rank_fraction"] == pytest.approx(1 / 6, rel=1e-6)
    assert collapsed["embedding/stable_rank"] == pytest.approx(1 / 6, rel=1e-6)


def test_block_measures_are_the_single_matrix_measures_averaged():
    """One batched call over blocks equals the per-matrix functions, block by block, averaged (full rank,
    rank 2, and an all-zero block whose covariance is singular)."""
    gen = generator(5)
    full = torch.randn(3, 40, 8, generator=gen, dtype=torch.float64) @ torch.randn(
        8, 8, generator=gen, dtype=torch.float64
    )
    low = torch.randn(1, 40, 2, generator=gen, dtype=torch.float64) @ torch.randn(
        2, 8, generator=gen, dtype=torch.float64
    )
    for blocks in (full, torch.cat([full, low]), torch.cat([full, torch.zeros(1, 40, 8, dtype=torch.float64)])):
        batched = mean_block_spectral_metrics(blocks, rank_tol=1e-5)
        spectra = [covariance_spectrum(block) for block in blocks]
        expected = {
            "stable_rank": [normalized_stable_rank(block) for block in blocks],
            "effective_rank": [effective_rank(s) for s in spectra],
            "effective_rank_fraction": [effective_rank(s) / 8 for s in spectra],
            "rank": [numerical_rank(s, tol=1e-5) for s in spectra],
            "condition_number": [condition_number(s) for s in spectra],
        }
        for name, values in expected.items():
            assert batched[name] == pytest.approx(sum(values) / len(values), rel=1e-9), name
    assert mean_block_spectral_metrics(torch.cat([full, low]))["rank"] == pytest.approx((3 * 8 + 2) / 4)
    assert math.isinf(mean_block_spectral_metrics(torch.cat([full, low]))["condition_number"])


# ---------------------------------------------------------------- plots


def assert_valid_png(path):
    data = path.read_bytes()
    assert len(data) > len(PNG_SIGNATURE) and data.startswith(PNG_SIGNATURE)


def test_plot_spectra_draws_sorted_spectra_and_saves_png(tmp_path):
    spectra = {"embedding": torch.tensor([0.5, 4.0, 1.0, 0.0]), "whitened": torch.tensor([1.0, 1.1, 0.9, 1.0])}
    figure = plot_spectra(spectra)
    axes = figure.axes[0]
    assert axes.get_yscale() == "log"
    assert [line.get_label() for line in axes.lines] == list(spectra)
    for line, eigenvalues in zip(axes.lines, spectra.values()):
        expected = np.stack([np.arange(1, 5), np.sort(eigenvalues.double().numpy())[::-1]], axis=1)
        assert np.array_equal(line.get_xydata(), expected)
    path = save_figure(figure, tmp_path / "nested" / "spectra.png")
    assert path == tmp_path / "nested" / "spectra.png"
    assert_valid_png(path)


def test_cosine_samples_and_histograms_round_trip(tmp_path):
    bins = 10
    negatives = negative_cosine_samples(torch.randn(40, 5, generator=generator(14)), max_samples=300, seed=0)
    positives = torch.tensor([0.95, 0.81, 0.99, 0.62, 0.999, 1.0 + 1e-7])  # last one: rounding above 1
    figure = plot_cosine_histograms(positives, negatives, bins=bins)
    histograms = figure.axes[0].patches
    assert [patch.get_label() for patch in histograms] == ["negative pairs", "positive pairs"]
    width = 2.0 / bins
    for patch, samples in zip(histograms, (negatives, positives)):
        densities, edges, _ = patch.get_data()
        assert np.allclose(edges, [-1.0 + i * width for i in range(bins + 1)], atol=1e-12)
        counts = [0] * bins
        for value in samples.tolist():
            counts[min(int((min(value, 1.0) + 1.0) / width), bins - 1)] += 1
        assert np.allclose(densities, [c / (len(samples) * width) for c in counts], atol=1e-12)
    assert_valid_png(save_figure(figure, tmp_path / "cosines.png"))

    negatives_only = plot_cosine_histograms(None, negatives, bins=bins)
    assert [patch.get_label() for patch in negatives_only.axes[0].patches] == ["negative pairs"]


def test_plot_metric_curves_one_curve_per_run_in_epoch_order(tmp_path):
    runs = {"zca": [(2, 0.5), (0, 0.1), (1, 0.3)], "pca": [(0, 0.2), (1, 0.1)]}
    figure = plot_metric_curves(runs, "whitened/stable_rank")
    axes = figure.axes[0]
    assert axes.get_ylabel() == "whitened/stable_rank"
    assert [line.get_label() for line in axes.lines] == ["zca", "pca"]
    assert np.array_equal(axes.lines[0].get_xydata(), [[0, 0.1], [1, 0.3], [2, 0.5]])
    assert np.array_equal(axes.lines[1].get_xydata(), [[0, 0.2], [1, 0.1]])
    assert_valid_png(save_figure(figure, tmp_path / "curves.png"))


def test_empty_plot_inputs_raise():
    with pytest.raises(ValueError, match="at least one"):
        plot_spectra({})
    with pytest.raises(ValueError, match="at least one run"):
        plot_metric_curves({}, "loss")
