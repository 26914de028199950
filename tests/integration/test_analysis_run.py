"""The paper's measurements in use: on whitened data, during training, stage=analyze, report --plots."""

import csv
import json
import logging

import pytest
import torch
from helpers import compose_config
from omegaconf import OmegaConf

from whitening_ssl.analysis.metrics import condition_number, covariance_spectrum, effective_rank
from whitening_ssl.analysis.model import Representations, measure
from whitening_ssl.stages import run
from whitening_ssl.whitening import whiten

SMOKE = ["debug=smoke", "backbone.width=8", "logger=none"]
FEW = "dataset.options.num_samples=128"  # 2 steps per epoch where the number of steps proves nothing
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("kind", ["zca", "cholesky", "pca"])
def test_batch_whitened_output_has_a_flat_spectrum(kind):
    """The core's whitening (batch axis, full rank) gives covariance eigenvalues all 1: effective rank d,
    condition number 1."""
    gen = torch.Generator().manual_seed(0)
    x = (
        torch.randn(256, 16, generator=gen, dtype=torch.float64)
        @ torch.randn(16, 16, generator=gen, dtype=torch.float64)
        + 2
    )
    z = whiten(x.unsqueeze(0), kind=kind, axis="batch")[0]
    eigenvalues = covariance_spectrum(z)
    assert torch.allclose(eigenvalues, torch.ones(16, dtype=torch.float64), atol=1e-8)
    assert effective_rank(eigenvalues) == pytest.approx(16, abs=1e-6)
    assert condition_number(eigenvalues) == pytest.approx(1.0, abs=1e-6)
    metrics = measure(Representations(x, z, z.view(1, 1, 256, 16)), prefix="a")
    assert metrics["a/whitened/effective_rank"] == pytest.approx(16, abs=1e-6)
    assert metrics["a/whitened/condition_number"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["a/backbone/effective_rank"] < 15  # the mixed input is not white


def test_training_batches_are_measured_and_collapse_is_warned_once(tmp_path, caplog):
    # no whitening: the plain normalised MSE collapses; with a high threshold the warning fires, once
    cfg = compose_config(
        [
            *SMOKE,
            "method=plain",
            "method.w_size=32",
            "epochs=1",
            "logger=csv",
            "eval.enabled=false",
            "analysis.every_n_steps=2",
            "analysis.collapse_fraction=0.99",
            "method.warmup_steps=3",
        ],
        run_dir=tmp_path,
    )
    with caplog.at_level(logging.WARNING, logger="whitening_ssl"):
        run(cfg)
    with open(tmp_path / "csv" / "metrics.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("analysis/embedding/effective_rank")]
    assert [int(row["step"]) for row in rows] == [0, 2, 4, 6]  # every 2 steps, only there
    for key in ("backbone", "embedding", "whitened"):
        assert all(float(row[f"analysis/{key}/negative_cosine"]) <= 1.0 for row in rows)
        assert all(0 < float(row[f"analysis/{key}/stable_rank"]) <= 1 for row in rows)
    warnings = [r.getMessage() for r in caplog.records if "dimensional collapse" in r.getMessage()]
    # once, and not before the warm-up is over (steps 0 and 2 are measured but not judged)
    assert len(warnings) == 1 and "at step 4 the embedding's effective rank is" in warnings[0]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("pretrain")
    run(compose_config([*SMOKE, FEW, "epochs=1", "eval.every_n_epochs=1", "eval.linear_epochs=2"], run_dir=run_dir))
    return run_dir


def test_online_evaluation_measures_and_plots(checkpoint):
    history = json.loads((checkpoint / "results.json").read_text())["history"]
    assert {
        "analysis/embedding/effective_rank",
        "analysis/whitened/stable_rank",
        "analysis/whitened/negative_cosine",
        "analysis/backbone/positive_cosine",
    } <= set(history[0])
    figures = sorted(p.name for p in (checkpoint / "analysis").iterdir())
    assert figures == [
        "epoch0001_cosine_backbone.png",
        "epoch0001_cosine_embedding.png",
        "epoch0001_cosine_whitened.png",
        "epoch0001_spectra.png",
    ]


def test_analyze_stage_writes_a_report(checkpoint, tmp_path, monkeypatch):
    from whitening_ssl.analysis import plots

    titles = []
    for name in ("plot_spectra", "plot_cosine_histograms"):
        original = getattr(plots, name)
        monkeypatch.setattr(
            plots, name, lambda *a, _original=original, **k: titles.append(k["title"]) or _original(*a, **k)
        )
    run(
        compose_config(
            [
                "stage=analyze",
                f"ckpt={checkpoint / 'checkpoints' / 'last.ckpt'}",
                "logger=none",
                "analysis.max_images=128",
            ],
            run_dir=tmp_path,
        )
    )
    context = f"\n{checkpoint.name}/last.ckpt, cw_rgp4, epoch 1"  # the run, the method and the epoch
    assert titles == [f"Covariance spectrum{context}"] + [
        f"Cosine similarity: {representation}{context}" for representation in ("backbone", "embedding", "whitened")
    ]
    analysis = json.loads((tmp_path / "analysis.json").read_text())
    assert analysis["stage"] == "analyze" and analysis["num_images"] == 128 and analysis["views"]
    for representation in ("backbone", "embedding", "whitened"):
        for measure_name in ("stable_rank", "effective_rank", "rank", "negative_cosine", "positive_cosine"):
            assert f"analysis/{representation}/{measure_name}" in analysis["metrics"]
    for name in ("spectra", "cosine_backbone", "cosine_embedding", "cosine_whitened"):
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data.startswith(PNG) and len(data) > 1000
    report = (tmp_path / "report.md").read_text()
    assert "| effective_rank |" in report and "![spectra](spectra.png)" in report
    from whitening_ssl.analysis.metrics import MEANINGS

    rows = [line for line in report.splitlines() if line.startswith("| ") and not line.startswith("| measure")]
    assert rows and all(line.endswith(f" | {MEANINGS[line.split(' | ')[0][2:]]} |") for line in rows), rows
    assert "rank m - 1 (31 for sub-batches of 32) and condition_number inf are expected" in report
    # the same images and model: the online evaluation measured the same embedding at that epoch
    online = json.loads((checkpoint / "results.json").read_text())["history"][0]
    assert analysis["metrics"]["analysis/embedding/negative_cosine"] == pytest.approx(
        online["analysis/embedding/negative_cosine"], abs=0.05
    )


def test_report_plots_one_figure_per_metric_with_a_curve_per_run(tmp_path, monkeypatch):
    from whitening_ssl import report
    from whitening_ssl.analysis import plots

    sweep = tmp_path / "sweep"
    for number, kind in enumerate(("zca", "cholesky")):
        run(
            compose_config(
                [
                    *SMOKE,
                    FEW,
                    "method=w_mse4",
                    "method.w_size=32",
                    "method.emb=16",
                    f"method.whiten={kind}",
                    "epochs=2",
                    "eval.every_n_epochs=1",
                    "eval.linear_epochs=0",
                    "analysis.max_images=64",
                ],
                run_dir=sweep / f"{number}_w_mse4_synthetic",
            )
        )
    drawn = {}
    original = plots.plot_metric_curves

    def plot_metric_curves(runs, metric, **options):
        figure = original(runs, metric, **options)
        key = metric if options.get("xlabel", "epoch") == "epoch" else (metric, "time")  # against wall time
        drawn[key] = {line.get_label(): line.get_xydata().tolist() for line in figure.axes[0].lines}
        drawn[key, "xlim"] = figure.axes[0].get_xlim()
        return figure

    monkeypatch.setattr(plots, "plot_metric_curves", plot_metric_curves)
    assert report.main([str(sweep), "--plots"]) == 0
    files = sorted(p.name for p in (sweep / "plots").iterdir())
    assert files == sorted(
        f"{name}{suffix}.png"
        for suffix in ("", "_time")
        for name in (
            "analysis_embedding_effective_rank",
            "analysis_whitened_negative_cosine",
            "analysis_whitened_stable_rank",
            "knn_top1",
            "online_probe_top1",
        )
    )
    histories = {
        kind: json.loads((sweep / f"{n}_w_mse4_synthetic" / "results.json").read_text())["history"]
        for n, kind in enumerate(("zca", "cholesky"))
    }
    knn = drawn["k-NN top-1 (%)"]
    # two curves, labelled by the setting (the method and dataset they share are in the title); no untrained
    # baseline (eval.evaluate_untrained is false), the epoch axis from 0 to the last evaluation
    assert set(knn) == {"method.whiten=cholesky", "method.whiten=zca"}
    low, high = drawn["k-NN top-1 (%)", "xlim"]
    assert low < 0.0 and 2.0 < high < 3.0
    for kind, history in histories.items():
        assert knn[f"method.whiten={kind}"] == [[h["epoch"], h["knn_top1"]] for h in history]
        assert drawn["k-NN top-1 (%)", "time"][f"method.whiten={kind}"] == [
            [h["seconds"] / 60, h["knn_top1"]] for h in history
        ]
        rank = drawn["effective rank of the embedding"][f"method.whiten={kind}"]
        assert rank == [[h["epoch"], h["analysis/embedding/effective_rank"]] for h in history]


def test_figures_go_to_wandb_as_images(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    run(
        compose_config(
            [
                *SMOKE,
                FEW,
                "logger=wandb",
                "logger.mode=offline",
                "epochs=1",
                "eval.linear_epochs=0",
                "analysis.max_images=64",
            ],
            run_dir=tmp_path,
        )
    )
    media = list((tmp_path / "wandb").glob("offline-run-*/files/media/images/analysis/*.png"))
    # W&B names the files <key>_<step>_<hash>.png: one per figure of the evaluation
    assert sorted(p.name.rsplit("_", 2)[0] for p in media) == [
        "cosine_backbone",
        "cosine_embedding",
        "cosine_whitened",
        "spectra",
    ]
    assert all(p.read_bytes().startswith(PNG) for p in media)


def test_a_diverged_step_is_not_measured():
    """On a GPU the divergence check reports a step late: a measured step with NaN embeddings must not end in a
    linear-algebra traceback (nor in a collapse warning) before the one-line divergence error."""
    from whitening_ssl.methods import build_method

    cfg = compose_config(
        [
            *SMOKE,
            "method.w_size=16",
            "method.emb=32",
            "method.warmup_steps=0",
            "backbone.stem=small",
            "analysis.collapse_fraction=0.01",
        ]
    )
    container = OmegaConf.to_container(cfg.model, resolve=True)
    module = build_method(container["backbone"], container["method"], 2, analysis=container["analysis"])
    features, embeddings = torch.randn(64, 8), torch.randn(2, 32, 32)
    assert module.analyze_batch(features, embeddings)["analysis/embedding/effective_rank"] > 1
    embeddings[0, 3, 5] = float("nan")
    assert module.analyze_batch(features, embeddings, torch.randn(2, 2, 16, 32)) == {}
    assert not module._collapse_warned
