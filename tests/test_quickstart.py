"""The quickstart, end to end on Fashion-MNIST (about 5 minutes on 2 CPU cores): `pytest -m slow`."""

import json
import os

import pytest

from whitening_ssl.stages import run

from helpers import compose_config


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"),
                    reason="needs Debian's dataset-fashion-mnist package")
def test_quickstart_trained_encoder_beats_untrained(tmp_path):
    run(compose_config(["experiment=quickstart", "logger=none"], run_dir=tmp_path))
    results = json.loads((tmp_path / "results.json").read_text())
    trained, untrained = results["final"], results["untrained"]
    assert trained["knn_top1"] > untrained["knn_top1"] + 5
    assert trained["linear_top1"] > untrained["linear_top1"] + 5
