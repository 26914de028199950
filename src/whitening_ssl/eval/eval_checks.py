"""The pre-run checks of ``eval.*`` and ``online_probe.*`` (torch-free: ``check=true`` imports no torch).

The evaluation itself is in :mod:`.online` (the periodic k-NN and linear probe) and :mod:`.online_probe`
(the linear probe trained during pretraining); their settings' rules are here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..settings import source

if TYPE_CHECKING:
    from ..validation import Checks

#: ``eval.feature_dtype``: how the evaluation keeps the features (float16 halves the memory at ImageNet
#: scale); each is the name of a torch dtype
FEATURE_DTYPES = ("float32", "float16", "bfloat16")
#: ``online_probe.enabled``
PROBE_ENABLED = ("auto", True, False)


def check_eval_config(checks: Checks, eval_cfg: Any) -> None:
    """``eval.*``: k >= 1 neighbours, a probe of >= 0 epochs (0: k-NN only), evaluation periods >= 0."""
    checks.boolean(eval_cfg, "enabled", "eval.enabled")
    checks.integer(eval_cfg, "every_n_epochs", "eval.every_n_epochs", minimum=0)
    checks.integer(eval_cfg, "every_n_epochs_after_drop", "eval.every_n_epochs_after_drop", minimum=0)
    checks.integer(eval_cfg, "knn_k", "eval.knn_k", minimum=1)
    checks.integer(eval_cfg, "linear_epochs", "eval.linear_epochs", minimum=0)
    checks.boolean(eval_cfg, "evaluate_untrained", "eval.evaluate_untrained")
    checks.integer(eval_cfg, "seed", "eval.seed", minimum=0)
    checks.choice(eval_cfg, "feature_dtype", "eval.feature_dtype", FEATURE_DTYPES)
    stop_at = checks.get(eval_cfg, "stop_at", "eval.stop_at", default={})
    if not (
        isinstance(stop_at, Mapping)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in stop_at.values())
    ):
        checks.add(f"eval.stop_at={stop_at!r} must map metrics to thresholds, e.g. eval.stop_at={{knn_top1:75}}")


def check_online_probe_config(checks: Checks, probe: Mapping[str, Any]) -> None:
    """``online_probe.*``: ``enabled`` auto/true/false, a known optimiser, a positive lr."""
    if checks.get(probe, "enabled", "online_probe.enabled") not in PROBE_ENABLED:
        checks.add(f"online_probe.enabled={probe.get('enabled')!r} is not available: use auto, true or false")
    checks.choice(probe, "optimizer", "online_probe.optimizer", source.keys("optim", "OPTIMIZERS"))
    checks.number(probe, "lr", "online_probe.lr", positive=True)
    checks.number(probe, "weight_decay", "online_probe.weight_decay", minimum=0.0)
    checks.number(probe, "momentum", "online_probe.momentum", minimum=0.0)
    checks.integer(probe, "seed", "online_probe.seed", minimum=0)


def probe_wanted(probe: Mapping[str, Any], eval_enabled: bool) -> bool:
    """``online_probe.enabled``: ``auto`` is on where the online evaluation runs (labelled splits to test on)."""
    return bool(eval_enabled) if probe["enabled"] == "auto" else bool(probe["enabled"])
