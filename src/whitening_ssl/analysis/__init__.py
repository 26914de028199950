"""Investigation metrics and figures of Weng et al. (NeurIPS 2022): ranks, spectra and cosine similarities.

Importing this package does not import matplotlib; :mod:`whitening_ssl.analysis.plots` does.
"""

from .cosines import (
    negative_cosine_samples,
    negative_cosine_similarity,
    positive_cosine_samples,
    positive_cosine_similarity,
)
from .metrics import (
    condition_number,
    covariance_spectrum,
    effective_rank,
    mean_block_spectral_metrics,
    normalized_stable_rank,
    numerical_rank,
    representation_metrics,
)

__all__ = [
    "condition_number",
    "covariance_spectrum",
    "effective_rank",
    "mean_block_spectral_metrics",
    "negative_cosine_samples",
    "negative_cosine_similarity",
    "normalized_stable_rank",
    "numerical_rank",
    "positive_cosine_samples",
    "positive_cosine_similarity",
    "representation_metrics",
]
