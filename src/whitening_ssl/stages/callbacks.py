"""The pretraining run's Lightning callbacks, built from the ``callbacks`` configuration group.

``conf/callbacks/default.yaml`` lists them, one entry each (``name: {_target_: ..., settings}``), so a
callback of your own is added from the command line like a whitening kind of your own
(``+callbacks.mine._target_=my_module.MyCallback``). An entry with ``_partial_: true`` is completed with
what only the running stage knows: the keyword arguments of :data:`RUN_CONTEXT` that its constructor
names (``run_dir``, ``dirpath``, ``config``, ...). ``callbacks.<name>=null`` removes an entry.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

from ..plugins import LookupFailed, import_object, is_import_path
from ..validation import Checks

#: what the stage can hand a ``_partial_`` entry, by keyword (the constructor's own names)
RUN_CONTEXT = ("run_dir", "dirpath", "config", "meta", "check_model", "figures_dir")


def check_callbacks(checks: Checks, nodes: Any) -> None:
    """Each entry names an importable :class:`pytorch_lightning.Callback` (imported, not built), and the run's
    checkpoints are kept. This package's own callbacks are found in its source, not imported (the check imports
    no torch); a callback of your own is imported."""
    from ..settings.source import PACKAGE, defines_class

    if nodes is None or not isinstance(nodes, Mapping):
        checks.add(
            "callbacks must be a mapping of name: {_target_: module.Class, ...} (see conf/callbacks/default.yaml)"
        )
        return
    if nodes.get("run_checkpoints") is None:
        checks.add(
            "callbacks.run_checkpoints cannot be removed: it is what keeps a run from being lost "
            "(change checkpoint_every or checkpoint_every_n_steps instead)"
        )
    for name, node in nodes.items():
        if node is None:
            continue
        target = node.get("_target_") if isinstance(node, Mapping) else None
        if not is_import_path(target):
            checks.add(f"callbacks.{name} needs a _target_ naming a Callback class (module.Class), got {target!r}")
            continue
        if str(target).startswith(f"{PACKAGE.name}."):
            if not defines_class(str(target)):
                checks.add(f"callbacks.{name}._target_={target}: {PACKAGE.name} has no such class")
            continue
        from pytorch_lightning import Callback

        try:
            found = import_object(str(target))
        except (ImportError, LookupFailed) as error:
            checks.add(
                f"callbacks.{name}._target_={target}: cannot import it ({error}): put your module on PYTHONPATH "
                "or in the folder you run from"
            )
            continue
        if not (isinstance(found, type) and issubclass(found, Callback)):
            checks.add(f"callbacks.{name}._target_={target} is not a pytorch_lightning.Callback class")


def build_callbacks(nodes: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """Every entry of ``nodes`` built, in order, as ``{name: callback}``; ``_partial_`` entries get the
    ``context`` values their constructor names (an entry's own settings win)."""
    import hydra

    built: dict[str, Any] = {}
    for name, node in nodes.items():
        if node is None:
            continue
        callback = hydra.utils.instantiate(node, _convert_="all")
        if isinstance(callback, functools.partial):
            accepted = inspect.signature(callback.func).parameters
            given = {key: value for key, value in context.items() if key in accepted and key not in callback.keywords}
            callback = callback(**given)
        built[name] = callback
    return built
