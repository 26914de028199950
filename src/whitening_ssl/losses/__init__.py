"""The losses, one module per family, each a small ``nn.Module`` independent of any training module.

- :mod:`.pairs`: :func:`view_pairs`, the one place views are paired, and :func:`view_pair_mse`;
- :mod:`.whitening_mse`: :class:`WhiteningMSELoss` (W-MSE, CW-RGP and their ablations) and the
  ImageNet recipe's :func:`covariance_penalty`;
- :mod:`.contrastive`: :class:`NTXentLoss` (SimCLR);
- :mod:`.predictive`: :class:`BYOLLoss`, :class:`SimSiamLoss`;
- :mod:`.redundancy`: :class:`BarlowTwinsLoss`, :class:`VICRegLoss`, :class:`ZeroICLLoss` (Zero-CL).

Every ``forward`` takes the per-view tensors stacked as ``[V, N, d]`` (``V >= 2`` views of ``N``
samples; a list of ``V`` tensors ``[N, d]`` is stacked for you) and returns a scalar. All view pairs
come from :func:`view_pairs` and are computed in one batched call (no Python loop over views or
pairs); per-view quantities (self-similarities, standardisations, covariances, whitening matrices)
are computed once per view, then paired. Half-precision inputs are promoted to float32 and the
losses run with autocast disabled, so they are safe under AMP.

The normalisations of the baselines follow the CW-RGP paper's code (its contrastive loss is
W-MSE's), unless a docstring says otherwise:

- :class:`NTXentLoss`: mean over unordered pairs of the two-direction average;
- :class:`BYOLLoss`: per unordered pair both directions SUMMED, mean over unordered pairs
  (``sum_directions=False`` halves it: mean over ordered pairs);
- :class:`SimSiamLoss`: mean over ordered pairs (V=2: the two directions averaged);
- :class:`BarlowTwinsLoss`, :class:`VICRegLoss`, :class:`ZeroICLLoss`: the two-view loss, mean over
  unordered pairs.
"""

from .contrastive import NTXentLoss
from .pairs import view_pair_mse, view_pairs
from .predictive import BYOLLoss, SimSiamLoss
from .redundancy import BARLOW_NORMALIZATIONS, BARLOW_SCALES, VICREG_CONVENTIONS, BarlowTwinsLoss, VICRegLoss, ZeroICLLoss
from .whitening_mse import WhiteningMSELoss, covariance_penalty

__all__ = [
    "BARLOW_NORMALIZATIONS",
    "BARLOW_SCALES",
    "VICREG_CONVENTIONS",
    "BYOLLoss",
    "BarlowTwinsLoss",
    "NTXentLoss",
    "SimSiamLoss",
    "VICRegLoss",
    "WhiteningMSELoss",
    "ZeroICLLoss",
    "covariance_penalty",
    "view_pair_mse",
    "view_pairs",
]
