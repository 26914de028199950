"""The losses, one module per family, each a small ``nn.Module`` independent of any training module.

- :mod:`.pairs`: :func:`view_pairs`, the one place views are paired, and :func:`view_pair_mse`;
- :mod:`.whitening_mse`: :class:`WhiteningMSELoss` (W-MSE, CW-RGP and their ablations) and the
  ImageNet recipe's :func:`covariance_penalty`;
- :mod:`.contrastive`: :class:`NTXentLoss` (SimCLR);
- :mod:`.predictive`: :class:`BYOLLoss`, :class:`SimSiamLoss`;
- :mod:`.redundancy`: :class:`BarlowTwinsLoss`, :class:`VICRegLoss`, :class:`ZeroICLLoss` (Zero-CL);
- :mod:`.intl`: :class:`INTLLoss` and the trace loss of INTL (its method normalises the views first);
- :mod:`.resa`: :class:`ReSALoss` and :func:`sinkhorn_assignment` (ReSA);
- :mod:`.sigreg`: :func:`epps_pulley`, :class:`SIGReg`, :class:`LeJEPALoss` (LeJEPA).

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

:data:`LOSSES` names the losses that a ``method.loss`` node builds (``{name: ntxent, temperature: 0.5}``;
``name`` may also be ``module.Class`` of your own, and ``_target_`` works as in Hydra); :func:`build_loss`
builds one. A loss's defaults are its constructor's: the presets compose ``method/_losses/<name>``,
written from the signature (:func:`loss_defaults`) to ``conf/method/_losses/<name>.yaml`` by
:mod:`whitening_ssl.cli.write_defaults`. The losses that a method family builds itself (whitening MSE, INTL)
are not in :data:`LOSSES`.

The names are imported when first used (:mod:`whitening_ssl.lazy`): the rules of :mod:`.loss_rules` are
imported without torch.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_namespace

if TYPE_CHECKING:
    from .contrastive import NTXentLoss as NTXentLoss
    from .intl import INTLLoss as INTLLoss
    from .intl import intl_trade_off as intl_trade_off
    from .intl import trace_loss as trace_loss
    from .loss_rules import BARLOW_NORMALIZATIONS as BARLOW_NORMALIZATIONS
    from .loss_rules import BARLOW_SCALES as BARLOW_SCALES
    from .loss_rules import VICREG_CONVENTIONS as VICREG_CONVENTIONS
    from .pairs import view_pair_mse as view_pair_mse
    from .pairs import view_pairs as view_pairs
    from .predictive import BYOLLoss as BYOLLoss
    from .predictive import SimSiamLoss as SimSiamLoss
    from .redundancy import BarlowTwinsLoss as BarlowTwinsLoss
    from .redundancy import VICRegLoss as VICRegLoss
    from .redundancy import ZeroICLLoss as ZeroICLLoss
    from .registry import LOSSES as LOSSES
    from .registry import build_loss as build_loss
    from .registry import loss_defaults as loss_defaults
    from .registry import registered_loss as registered_loss
    from .resa import ReSALoss as ReSALoss
    from .resa import sinkhorn_assignment as sinkhorn_assignment
    from .sigreg import LeJEPALoss as LeJEPALoss
    from .sigreg import SIGReg as SIGReg
    from .sigreg import epps_pulley as epps_pulley
    from .whitening_mse import WhiteningMSELoss as WhiteningMSELoss
    from .whitening_mse import covariance_penalty as covariance_penalty

__getattr__, __dir__, __all__ = lazy_namespace(__name__, __file__)
