"""A Lightning callback of your own, added from the command line (no package file edited)::

    python run.py experiment=quickstart +callbacks.steps._target_=examples.step_counter.StepCounter \
        +callbacks.steps._partial_=true +callbacks.steps.every=50

With ``_partial_: true`` it also receives what only the running stage knows, by the names its constructor
asks for (here ``run_dir``); see ``conf/callbacks/default.yaml``.
"""

import json
from pathlib import Path

from pytorch_lightning import Callback


class StepCounter(Callback):
    """Counts the optimiser steps and writes ``<run_dir>/steps.json`` every ``every`` steps and at the end."""

    def __init__(self, every: int = 100, run_dir=None) -> None:
        self.every = every
        self.path = Path(run_dir) / "steps.json" if run_dir is not None else None
        self.steps = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.steps += 1
        if self.steps % self.every == 0:
            self._write()

    def on_train_end(self, trainer, pl_module) -> None:
        self._write()

    def _write(self) -> None:
        if self.path is not None:
            self.path.write_text(json.dumps({"steps": self.steps}))
