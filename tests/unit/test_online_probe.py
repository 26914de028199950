"""The online linear probe, the evaluations' time stamps, --time-to, and the speed presets."""

import io
import json

import pytest
import torch
from helpers import CONF, compose_config
from torch import nn

from whitening_ssl.eval.clock import RunClock
from whitening_ssl.eval.online_probe import OnlineProbe, global_view_count
from whitening_ssl.report.time_to import first_reaching, parse_threshold


def _clusters(count, dim=16, classes=4, seed=0):
    """Separable features: one Gaussian cluster per class, well apart."""
    gen = torch.Generator().manual_seed(seed)
    centres = 4.0 * torch.randn(classes, dim, generator=torch.Generator().manual_seed(123))
    labels = torch.randint(0, classes, (count,), generator=gen)
    return centres[labels] + torch.randn(count, dim, generator=gen), labels


def _probe(dim=16, classes=4, **settings):
    probe = OnlineProbe(**{"lr": 1e-2, **settings})
    probe.build(dim, classes, torch.device("cpu"))
    return probe


def test_the_probe_learns_separable_features_and_ignores_unlabelled_images():
    probe = _probe()
    test_x, test_y = _clusters(512, seed=1)
    chance = probe.evaluate(None, None, test_x, test_y)["online_probe_top1"]
    for step in range(60):
        x, y = _clusters(64, seed=100 + step)
        y[:8] = -1  # unlabelled images (STL-10's unlabeled split) take no part
        probe.learn(torch.cat([x, x + 0.1]), y)  # two views of the same images
    accuracy = probe.evaluate(None, None, test_x, test_y)
    assert accuracy["online_probe_top1"] > 95.0 > chance + 40.0
    assert accuracy["online_probe_top5"] == 100.0  # 4 classes: every label in the top 5
    correct, seen, loss = probe._tally.tolist()
    assert seen == 60 * 2 * 56 and correct > 0.8 * seen and loss > 0.0


def test_the_probe_gradient_never_reaches_the_backbone():
    """The backbone's gradient is the same with the probe on or off (the probe learns from a detached copy)."""
    backbone = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16))
    images, labels = torch.randn(32, 8), torch.randint(0, 4, (16,))
    grads = []
    for with_probe in (False, True):
        backbone.zero_grad(set_to_none=True)
        features = backbone(images)  # two views of 16 images
        if with_probe:
            probe = _probe()
            before = probe.classifier.weight.clone()
            probe.learn(features, labels)
            assert all(p.grad is None for p in backbone.parameters())
            assert not torch.equal(before, probe.classifier.weight)  # the probe did learn
        features.pow(2).mean().backward()  # the method's loss
        grads.append([p.grad.clone() for p in backbone.parameters()])
    assert all(torch.equal(off, on) for off, on in zip(*grads))


def test_the_probe_state_saves_and_loads_with_weights_only(tmp_path):
    """Weights and optimiser state in the callback's checkpoint state, read back without pickled code, continue
    the same probe (also when loaded before the probe is built, as Lightning restores callbacks)."""
    trained = _probe()
    x, y = _clusters(64)
    trained.learn(torch.cat([x, x]), y)
    torch.save({"callbacks": {"OnlineProbe": trained.state_dict()}}, tmp_path / "state.ckpt")
    state = torch.load(tmp_path / "state.ckpt", weights_only=True)["callbacks"]["OnlineProbe"]
    resumed = OnlineProbe(lr=1e-2)
    resumed.load_state_dict(state)
    resumed.build(16, 4, torch.device("cpu"))
    x, y = _clusters(64, seed=5)
    for probe in (trained, resumed):
        probe.learn(torch.cat([x, x]), y)
    assert torch.equal(trained.classifier.weight, resumed.classifier.weight)
    assert torch.equal(trained.classifier.bias, resumed.classifier.bias)


def test_global_views_are_the_first_resolution():
    views = [torch.zeros(2, 3, 32, 32)] * 2 + [torch.zeros(2, 3, 16, 16)] * 4
    assert (global_view_count(views), global_view_count(views[:1]), global_view_count(views[2:])) == (2, 1, 4)


def test_evaluation_records_hold_increasing_times_across_a_resume(monkeypatch):
    now = iter([100.0, 103.0, 104.0, 110.0, 111.0, 200.0, 205.0])
    monkeypatch.setattr("whitening_ssl.eval.clock.time.perf_counter", lambda: next(now))
    clock = RunClock()
    clock.start()  # 100
    first = clock.stamp(devices=2)  # 103
    clock.add_evaluation(1.0)
    second = clock.stamp(devices=2)  # 104
    saved = clock.state_dict()  # 110: 10 s, 1 s of it evaluating
    resumed = RunClock()
    resumed.load_state_dict(saved)
    resumed.start()  # 111
    third = resumed.stamp(devices=2)  # 200: 10 + 89
    assert [r["seconds"] for r in (first, second, third)] == [3.0, 4.0, 99.0]
    assert [r["train_seconds"] for r in (first, second, third)] == [3.0, 3.0, 98.0]
    assert third["device_hours"] == pytest.approx(2 * 99.0 / 3600)


def test_time_to_picks_the_first_evaluation_at_or_above_the_threshold(tmp_path, capsys):
    from whitening_ssl.report import main

    history = [
        {"epoch": e, "knn_top1": k, "seconds": 60.0 * e, "train_seconds": 50.0 * e, "device_hours": e / 60}
        for e, k in ((1, 60.0), (2, 74.9), (3, 75.0), (4, 80.0), (5, 70.0))
    ]
    assert first_reaching(history, "knn_top1", 75.0)["epoch"] == 3
    assert first_reaching(list(reversed(history)), "knn_top1", 75.0)["epoch"] == 3  # in epoch order
    assert first_reaching(history, "knn_top1", 90.0) is None
    assert parse_threshold("knn_top1=75") == ("knn_top1", 75.0)
    result = {
        "stage": "pretrain",
        "method": "cw_rgp4",
        "dataset": "cifar10",
        "epochs": 5,
        "history": history,
        "final": {"knn_top1": 70.0},
        "config": {"seed": 1},
    }
    (tmp_path / "results.json").write_text(json.dumps(result))
    assert main([str(tmp_path / "results.json"), "--time-to", "knn_top1=75", "--time-to", "knn_top1=90"]) == 0
    lines = capsys.readouterr().out.splitlines()[-2:]
    assert lines == [
        "time to knn_top1 >= 75: cw_rgp4: 180 s (3.0 min) at epoch 3, 150 s training, 0.05 device-hours",
        "time to knn_top1 >= 90: cw_rgp4: not reached (best 80.00 at epoch 4)",
    ]
    with pytest.raises(SystemExit) as caught, pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stderr", io.StringIO())
        main([str(tmp_path), "--time-to", "knn_top1"])
    assert caught.value.code == 2


SPEED_PRESETS = sorted(p.stem for p in (CONF / "experiment" / "speed").glob("[!_]*.yaml"))


@pytest.mark.parametrize("preset", SPEED_PRESETS)
def test_every_speed_preset_composes_and_passes_the_checks(preset, tmp_path):
    from whitening_ssl.stages import check_config

    cfg = compose_config([f"experiment=speed/{preset}", "trainer=cpu", "logger=none"], run_dir=tmp_path / "run")
    check_config(cfg, check_machine=False)
    assert cfg.experiment_name == f"speed/{preset}"
    assert (cfg.data.pipeline, cfg.trainer.precision, cfg.channels_last, cfg.compile) == (
        "device",
        "bf16-mixed",
        True,
        True,
    )
    assert cfg.data.batch_size == 1024 and cfg.online_probe.enabled == "auto" and cfg.eval.linear_epochs == 0
