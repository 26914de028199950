"""LightningModules of pretraining: the methods, one thin class per family.

The linear probe's module is in :mod:`whitening_ssl.eval`.

:data:`METHODS` maps ``method.family`` (set by each preset in ``conf/method/``) to its class;
:func:`build_method` is the Hydra target that builds the pretraining module. Adding a method is one
entry in :mod:`.registry`, one module (over a loss of :mod:`whitening_ssl.losses`) and one YAML preset. A family's
``default_settings()`` is written to ``conf/method/_defaults/<family>.yaml`` by
``python -m whitening_ssl.cli.write_defaults --write`` (:mod:`whitening_ssl.cli.write_defaults`).

The names are imported when first used (:mod:`whitening_ssl.lazy`): the pre-run check
(:func:`~whitening_ssl.methods.method_checks.check_method_settings`) imports no torch.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_namespace

if TYPE_CHECKING:
    from .base import PretrainModule as PretrainModule
    from .byol import BYOLMethod as BYOLMethod
    from .embedding_loss import EmbeddingLossMethod as EmbeddingLossMethod
    from .intl import INTLMethod as INTLMethod
    from .lejepa import LeJEPAMethod as LeJEPAMethod
    from .outputs import LossOutput as LossOutput
    from .registry import METHODS as METHODS
    from .registry import build_method as build_method
    from .registry import get_method as get_method
    from .resa import ReSAMethod as ReSAMethod
    from .simsiam import SimSiamMethod as SimSiamMethod
    from .whitening_mse import WhiteningMSEMethod as WhiteningMSEMethod

__getattr__, __dir__, __all__ = lazy_namespace(__name__, __file__)
