"""The time stamps of the online evaluation's records: how long a run took to reach each figure.

``seconds`` is the wall time since training started (the fit's start: data set up, model built),
carried over a resume (the time between the last checkpoint and a crash is not counted, the work
redone after it is); ``train_seconds`` is that less the time spent evaluating (the evaluations'
feature extraction, k-NN, linear probe and measurements); ``device_hours`` is ``seconds`` times the
training processes' devices, in hours. A record is stamped when its evaluation starts, so its times
are those at which the evaluated weights existed.
"""

from __future__ import annotations

import time


class RunClock:
    """Wall time since training started, and the part of it spent evaluating (both survive a resume)."""

    STAMPS = ("seconds", "train_seconds", "device_hours")  # the keys of :meth:`stamp`

    def __init__(self) -> None:
        self.carried = {"seconds": 0.0, "eval_seconds": 0.0}  # from the checkpoint of a resumed run
        self._started: float | None = None
        self._evaluating = 0.0

    def start(self) -> None:
        self._started = time.perf_counter()
        self._evaluating = 0.0

    def seconds(self) -> float:
        running = time.perf_counter() - self._started if self._started is not None else 0.0
        return self.carried["seconds"] + running

    def eval_seconds(self) -> float:
        return self.carried["eval_seconds"] + self._evaluating

    def add_evaluation(self, seconds: float) -> None:
        self._evaluating += seconds

    def stamp(self, devices: int) -> dict[str, float]:
        """``seconds``, ``train_seconds`` and ``device_hours`` now."""
        seconds = self.seconds()
        return {
            "seconds": seconds,
            "train_seconds": max(seconds - self.eval_seconds(), 0.0),
            "device_hours": devices * seconds / 3600.0,
        }

    def state_dict(self) -> dict[str, float]:
        return {"seconds": self.seconds(), "eval_seconds": self.eval_seconds()}

    def load_state_dict(self, state: dict[str, float] | None) -> None:
        state = state or {}
        self.carried = {
            "seconds": float(state.get("seconds", 0.0)),
            "eval_seconds": float(state.get("eval_seconds", 0.0)),
        }
