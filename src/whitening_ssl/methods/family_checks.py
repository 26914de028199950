"""The method families' settings rules, without torch: each rule written once, for the classes'
``check_config`` and the pre-run check (:mod:`whitening_ssl.methods.method_checks`).

:func:`check_common` holds the rules of every family (:class:`~whitening_ssl.methods.PretrainModule`'s
``check_config``); :data:`FAMILY_RULES` a built-in family's own rules (its class's ``check_config`` calls
``super().check_config`` and then them). The choices (optimisers, schedules, activations, losses) are the
registries' names, read from their source (:mod:`whitening_ssl.settings.source`): nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..losses.loss_rules import (
    CENTRES,
    check_resa_settings,
    check_sigreg_settings,
    check_whitening_mse_loss,
    loss_names,
    loss_node_problem,
    registered_target,
    trade_off_problem,
)
from ..plugins import LookupFailed, is_import_path, lookup
from ..settings import source
from ..whitening.settings_checks import check_whitening, check_whitening_shape

if TYPE_CHECKING:
    from ..validation import Checks

Rules = Callable[["Checks", Mapping[str, Any], Mapping[str, Any]], None]


def check_common(checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """Every family's settings: the head, the optimiser and the schedule."""
    checks.integer(method, "emb", "method.emb", minimum=1)
    checks.integer(method, "head_size", "method.head_size", minimum=1)
    checks.integer(method, "head_layers", "method.head_layers", minimum=0)
    for key in ("head_bn", "head_bias", "bn_per_view", "head_per_view", "decay_norm_and_bias"):
        checks.boolean(method, key, f"method.{key}")
    checks.choice(method, "head_activation", "method.head_activation", source.keys("models.heads", "ACTIVATIONS"))
    checks.choice(method, "optimizer", "method.optimizer", source.keys("optim", "OPTIMIZERS"))
    checks.number(method, "lr", "method.lr", positive=True)
    checks.number(method, "weight_decay", "method.weight_decay", minimum=0.0)
    if checks.get(method, "weight_decay_end", "method.weight_decay_end", default=None) is not None:
        checks.number(method, "weight_decay_end", "method.weight_decay_end", minimum=0.0)
    checks.number(method, "momentum", "method.momentum", minimum=0.0)
    checks.integer(method, "warmup_steps", "method.warmup_steps", minimum=0)
    checks.number(method, "final_lr_fraction", "method.final_lr_fraction", minimum=0.0, below=1.0)
    checks.choice(method, "schedule", "method.schedule", source.keys("schedules", "SCHEDULES"))
    checks.number(method, "drop_gamma", "method.drop_gamma", positive=True)
    drops = checks.get(method, "drops", "method.drops")
    if drops is not None and not (
        isinstance(drops, (list, tuple))
        and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in drops)
    ):
        checks.add(f"method.drops={drops!r} must be a list of whole numbers of epochs before the end, e.g. [50,25]")


def check_whitening_mse(checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """The whitening's, the loss's and the method's own settings, and sizes that give a non-singular covariance."""
    check_whitening(checks, method, "method.")
    batch = checks.integer(data, "batch_size", "data.batch_size", minimum=2)
    check_whitening_mse_loss(checks, method, "method.", batch_size=batch)
    checks.boolean(method, "gather", "method.gather")
    checks.number(method, "cov_w", "method.cov_w", minimum=0.0)
    checks.integer(method, "cov_stop", "method.cov_stop", minimum=0)
    emb: Any = method.get("emb")
    w_size: Any = method.get("w_size")
    if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (emb, w_size)):
        check_whitening_shape(checks, method, samples=w_size, channels=emb, path="method.")


def check_intl(checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    check_whitening(checks, method, "method.")
    trade_off = checks.get(method, "trade_off", "method.trade_off")
    problem = None if trade_off == "auto" else trade_off_problem(trade_off)
    if problem:
        checks.add(f"method.{problem} (or auto: the authors' rule)")
    checks.boolean(method, "gather", "method.gather")
    checks.boolean(method, "momentum_encoder", "method.momentum_encoder")
    checks.number(method, "momentum_base", "method.momentum_base", minimum=0.0, below=1.0)
    checks.integer(data, "num_views", "data.num_views", minimum=2)


def check_resa(checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    values = [checks.get(method, key, f"method.{key}") for key in ("temperature", "sinkhorn_eps", "sinkhorn_iters")]
    checks.extend(f"method.{problem}" for problem in check_resa_settings(*values))
    checks.boolean(method, "predictor", "method.predictor")
    checks.integer(method, "pred_hidden", "method.pred_hidden", minimum=1)
    checks.number(method, "momentum_base", "method.momentum_base", minimum=0.0, below=1.0)
    checks.boolean(method, "evaluate_momentum", "method.evaluate_momentum")
    momentum_views = checks.integer(method, "momentum_views", "method.momentum_views", minimum=1)
    views = checks.integer(data, "num_views", "data.num_views", minimum=2)
    if momentum_views and views and momentum_views > views:
        checks.add(f"method.momentum_views={momentum_views} is more than data.num_views={views}")


def check_lejepa(checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    lam = checks.number(method, "lam", "method.lam", minimum=0.0)
    if lam is not None and lam > 1:
        checks.add(f"method.lam={lam} must be at most 1 (L = lam SIGReg + (1 - lam) invariance)")
    checks.choice(method, "centre", "method.centre", CENTRES)
    global_views = checks.integer(method, "global_views", "method.global_views", minimum=1)
    views = checks.integer(data, "num_views", "data.num_views", minimum=2)
    if global_views and views and global_views > views:
        checks.add(f"method.global_views={global_views} is more than data.num_views={views}")
    if checks.get(method, "sigreg_weight", "method.sigreg_weight", default=0.0):
        checks.add(
            "method.sigreg_weight adds a second SIGReg to LeJEPA, whose method.lam weighs its own: "
            "set method.sigreg_weight=0"
        )
    problem = check_sigreg_settings(
        *(checks.get(method, f"sigreg_{key}", f"method.sigreg_{key}") for key in ("slices", "knots", "t_max"))
    )
    if problem:
        checks.add(f"method.{problem}")


def check_byol(checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    checks.number(method, "tau_base", "method.tau_base", minimum=0.0, below=1.0)
    checks.integer(method, "pred_hidden", "method.pred_hidden", minimum=1)


def check_simsiam(checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    checks.integer(method, "pred_hidden", "method.pred_hidden", minimum=1)


def check_embedding_loss(checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """The loss node: a registered loss is checked as its constructor would (its signature and rule, read
    without torch); a loss of the user's own is built once and called once (:mod:`whitening_ssl.own_code`)."""
    checks.boolean(method, "head_out_bn", "method.head_out_bn")
    loss = checks.get(method, "loss", "method.loss")
    if not isinstance(loss, dict) or not (loss.get("name") or loss.get("_target_")):
        checks.add(
            f"method.loss must name the loss: method.loss.name=<one of {', '.join(loss_names())}, or "
            "module.Class of your own>"
        )
        return
    arguments = {key: value for key, value in loss.items() if key not in ("name", "_target_")}
    name, target = loss.get("name"), loss.get("_target_")
    label, registered = name or target, None
    try:
        if target is None:
            registered = name if name in loss_names() else None
            if registered is None and not is_import_path(name):
                lookup(dict.fromkeys(loss_names()), name, "method.loss.name")  # raises: the unknown name's line
        else:  # Hydra's own keys (_args_, ...): Hydra builds it
            registered = None if any(str(key).startswith("_") for key in arguments) else registered_target(target)
        problem = loss_node_problem(registered, arguments) if registered is not None else None
    except (LookupFailed, TypeError, ValueError) as error:
        problem = str(error)
    if problem:
        checks.add(" ".join(f"method.loss ({label}): {problem}".split()))
    if registered is None and not problem:
        _check_own_loss(checks, loss, method, data)


def _check_own_loss(checks: Checks, loss: dict, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """A loss of the user's own (or built through Hydra): built once (torch), called once."""
    from ..losses.registry import LOSSES, build_loss

    try:
        built = build_loss(loss)
    except (LookupFailed, TypeError, ValueError) as error:  # the constructor's own message, one line
        checks.add(" ".join(f"method.loss ({loss.get('name') or loss.get('_target_')}): {error}".split()))
        return
    if is_import_path(loss.get("name")) and loss.get("name") not in LOSSES:  # the user's own: called once
        from ..own_code import probe_loss

        probe_loss(checks, built, str(loss["name"]), method, data)


#: a built-in family (a key of :data:`~whitening_ssl.methods.METHODS`) -> its own rules, checked after
#: :func:`check_common`; a family without an entry has none of its own
FAMILY_RULES: dict[str, Rules] = {
    "whitening_mse": check_whitening_mse,
    "embedding_loss": check_embedding_loss,
    "byol": check_byol,
    "simsiam": check_simsiam,
    "intl": check_intl,
    "resa": check_resa,
    "lejepa": check_lejepa,
}
