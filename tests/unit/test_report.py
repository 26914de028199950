"""The reproduction table (python -m whitening_ssl.report): reading, merging, rendering, CLI."""

import json
import runpy
import sys
from pathlib import Path

import pytest

from whitening_ssl.paper_results import PAPER_IMAGENET, PAPER_RESULTS, paper_numbers
from whitening_ssl.report import build_rows, collect_results, flatten_settings, main, markdown_table

NOTES = """
Paper numbers: Weng et al. 2022 (CW-RGP, NeurIPS), table of Sec. 4.1 (small datasets) and the official repository (ImageNet); Weng et al. 2024 (INTL, ICLR), the official repository's README; Weng et al. 2025 (ReSA, ICML), the official repository's README (ImageNet, ResNet-50 and ViT-S/16); LeJEPA (Balestriero & LeCun 2025) ViT-S/16 as lightly-ai/lightly's ImageNet benchmark (README); † third-party copy
Ours: mean over runs, ± sample standard deviation (n runs) when more than one; (n=...) also where fewer runs of the row have the figure. linear top-1, 5-NN top-1: the online evaluation at the end of pretraining{extra}. Δ = ours - paper. runs: models (pretraining runs) merged; the results of one model from several stages share its row.
"""
STAGE_NOTE = (
    "; {stages}: a separate evaluation of the pretrained checkpoint (python run.py stage=... ckpt=...), "
    "which Δ uses where there is one"
)
UNTRAINED_NOTE = "; untrained: the same encoder before training (eval.evaluate_untrained=true)"

# w_mse2's pretraining run and its stage=linear probe are one model: one row, runs 1, both figures side by side
EXPECTED = """\
| method | dataset | runs | linear top-1 | stage=linear | paper | Δ | 5-NN top-1 | paper | Δ |
|---|---|---|---|---|---|---|---|---|---|
| cw_rgp4 | cifar10 | 2 | 92.15 ± 0.21 (n=2) | – | 92.47 | -0.32 | 90.30 ± 0.28 (n=2) | 90.74 | -0.44 |
| w_mse2 | cifar10 | 1 | 91.00 | 91.86 | 91.55† | +0.31 | 89.80 | 89.69† | +0.11 |
| cw_rgp2 | fashion_mnist | 1 | 88.50 | – | – | – | 87.25 | – | – |
""" + NOTES.format(extra=STAGE_NOTE.format(stages="stage=linear"))


def _pretrain(method, dataset, linear, knn, seed=1, epochs=1000):
    return {
        "stage": "pretrain",
        "method": method,
        "dataset": dataset,
        "backbone": "resnet18",
        "epochs": epochs,
        "final": {"knn_top1": knn, "linear_top1": linear, "linear_top5": 99.5},
        "config": {"experiment_name": f"paper/{dataset}_{method}", "seed": seed},
    }


def _write(path: Path, data) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    file = path / "results.json"
    file.write_text(data if isinstance(data, str) else json.dumps(data))
    return file


@pytest.fixture
def sweep(tmp_path):
    """A sweep folder: cw_rgp4 (2 seeds), w_mse2 + its linear probe, an unknown dataset, a broken file."""
    root = tmp_path / "multirun" / "2026-11-28" / "10-00-00"
    _write(root / "0_seed=1" / "cifar10_cw_rgp4", _pretrain("cw_rgp4", "cifar10", 92.0, 90.1, seed=1))
    _write(root / "1_seed=2" / "cifar10_cw_rgp4", _pretrain("cw_rgp4", "cifar10", 92.3, 90.5, seed=2))
    _write(root / "2_method=w_mse2", _pretrain("w_mse2", "cifar10", 91.0, 89.8))
    _write(
        root / "2_method=w_mse2" / "linear",
        {
            "stage": "linear",
            "method": "w_mse2",
            "dataset": "cifar10",
            "epochs": 500,
            "checkpoint": str(root / "2_method=w_mse2" / "checkpoints" / "last.ckpt"),
            "final": {"linear_top1": 91.86, "linear_top5": 99.7},
        },
    )
    _write(root / "3_dataset=fashion_mnist", _pretrain("cw_rgp2", "fashion_mnist", 88.5, 87.25))
    broken = _write(root / "4_crashed", '{"stage": "pretrain", "method": "cw_rgp4", "final": {')
    return root, broken


def test_markdown_table_exact(sweep, capsys):
    root, broken = sweep
    results = collect_results(root)
    assert len(results) == 5
    assert markdown_table(build_rows(results)) == EXPECTED
    assert str(broken) in capsys.readouterr().err


def test_cli_writes_reproduction_md(sweep, capsys):
    root, broken = sweep
    assert main([str(root)]) == 0
    captured = capsys.readouterr()
    assert captured.out == EXPECTED
    assert (root / "reproduction.md").read_text() == EXPECTED
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(broken) in warnings[0]


def test_cli_output_option_and_several_paths(sweep, tmp_path, capsys):
    root, _ = sweep
    output = tmp_path / "out" / "table.md"
    main([str(root / "0_seed=1"), str(root / "1_seed=2"), "--output", str(output)])
    assert "| cw_rgp4 | cifar10 | 2 | 92.15 ± 0.21 (n=2) |" in output.read_text()
    assert not (root / "reproduction.md").exists()
    # several paths, no --output: printed only
    main([str(root / "0_seed=1"), str(root / "1_seed=2")])
    assert not any(p.name == "reproduction.md" for p in root.rglob("*"))
    assert "cw_rgp4" in capsys.readouterr().out


def test_cli_single_file(sweep, capsys):
    root, _ = sweep
    main([str(root / "3_dataset=fashion_mnist" / "results.json")])
    assert "| cw_rgp2 | fashion_mnist | 1 | 88.50 |" in capsys.readouterr().out


def test_no_results_exits_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "empty")])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert f"no results.json with figures under {tmp_path / 'empty'}" in lines[0] and "python run.py" in lines[0]
    assert not (tmp_path / "empty" / "reproduction.md").exists()
    with pytest.raises(SystemExit) as exit_info:  # issue 23.6: a folder that is not there is not a folder of no runs
        main([str(tmp_path / "typo")])
    assert exit_info.value.code == 2 and capsys.readouterr().err.strip().splitlines() == [
        f"error: {tmp_path / 'typo'} does not exist: give a run folder, or the folder that holds runs (outputs, multirun)"
    ]


def test_only_malformed_exits_2(tmp_path, capsys):
    _write(tmp_path / "a", "[1, 2]")
    _write(tmp_path / "b", {"stage": "pretrain", "method": "cw_rgp4", "dataset": "cifar10"})  # no final
    _write(tmp_path / "c", _pretrain("cw_rgp4", "cifar10", 150.0, 90.0))  # not a percentage
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    for name in ("a", "b", "c"):
        assert str(tmp_path / name / "results.json") in err


def test_module_entry_point(sweep, monkeypatch, capsys):
    """``python -m whitening_ssl.report PATH`` (run in-process: the subprocess would re-import torch)."""
    root, _ = sweep
    monkeypatch.delitem(sys.modules, "whitening_ssl.report")  # run it fresh, as python -m does
    monkeypatch.setattr(sys, "argv", ["report", str(root), "--output", str(root / "table.md")])
    runpy.run_module("whitening_ssl.report", run_name="__main__", alter_sys=False)
    assert capsys.readouterr().out == EXPECTED
    assert (root / "table.md").read_text() == EXPECTED
    empty = root / "nothing"
    empty.mkdir()
    monkeypatch.setattr(sys, "argv", ["report", str(empty)])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("whitening_ssl.report", run_name="__main__", alter_sys=False)
    assert exit_info.value.code == 2 and "no results.json with figures under" in capsys.readouterr().err


def test_exact_method_match_and_order(tmp_path):
    results = [
        {**_pretrain("cw_rgp2_quickstart", "cifar10", 60.0, 55.0), "_path": "q"},
        {**_pretrain("byol", "stl10", 92.0, 88.0), "_path": "b"},
        {**_pretrain("cw_rgp2", "cifar10", 91.0, 89.0), "_path": "c"},
        {**_pretrain("pca", "cifar100", 10.0, 10.0), "_path": "p"},
        {**_pretrain("w_mse4", "stl10", 90.0, 87.0), "_path": "w"},
    ]
    rows = build_rows(results)
    assert [(r.method, r.dataset) for r in rows] == [
        ("cw_rgp2", "cifar10"),
        ("cw_rgp2_quickstart", "cifar10"),
        ("pca", "cifar100"),
        ("w_mse4", "stl10"),
        ("byol", "stl10"),
    ]
    assert rows[0].paper_value("linear_top1") == 91.92
    assert rows[1].paper == {} and rows[2].paper == {}
    assert rows[3].paper == {}  # W-MSE 4 on STL-10 is "-" in the paper
    assert rows[4].paper["source"] == "copy"


def test_imagenet_paper_number_by_epochs():
    results = [
        {**_pretrain("cw_rgp4", "imagenet", 0.0, 50.0, epochs=100), "_path": "p100"},
        {**_pretrain("cw_rgp4", "imagenet", 0.0, 52.0, epochs=200), "_path": "p200"},
        {
            "stage": "linear",
            "method": "cw_rgp4",
            "dataset": "imagenet",
            "epochs": 100,
            "pretrain_epochs": 200,
            "checkpoint": "p200/checkpoints/last.ckpt",
            "final": {"linear_top1": 70.5},
            "_path": "l200",
        },
    ]
    rows = build_rows(results)
    assert [(r.label, r.runs) for r in rows] == [("imagenet (100 ep)", 1), ("imagenet (200 ep)", 1)]
    assert rows[0].paper_value("linear_top1") == 69.7 and rows[0].paper_value("knn_top1") is None
    assert rows[1].paper_value("linear_top1") == 71.0
    assert rows[1].linear.values == [70.5] and rows[1].linear.from_stage
    assert rows[1].online["linear_top1"].values == [0.0]  # the online figure stays beside it
    assert rows[1].delta("linear_top1") == -0.5
    assert sorted(rows[1].paths) == ["l200", "p200"]
    line = markdown_table(rows).splitlines()[3]
    assert line == "| cw_rgp4 | imagenet (200 ep) | 1 | 0.00 | 70.50 | 71.00 | -0.50 | 52.00 | – | – |"
    # a probe without pretrain_epochs joins the only ImageNet pretraining row of its method; not being
    # of that run's checkpoint (no checkpoint named), it is a second model there
    probe = {
        "stage": "linear",
        "method": "cw_rgp4",
        "dataset": "imagenet",
        "epochs": 100,
        "final": {"linear_top1": 69.0},
        "_path": "l",
    }
    (row,) = build_rows([results[1], probe])
    assert row.epochs == 200 and row.runs == 2 and row.paper_value("linear_top1") == 71.0
    assert markdown_table([row]).splitlines()[2] == (
        "| cw_rgp4 | imagenet (200 ep) | 2 | 0.00 (n=1) | 69.00 (n=1) | 71.00 | -2.00 | 52.00 (n=1) | – | – |"
    )
    # the 100-epoch checkpoint of the 200-epoch run's folder is another model: not merged into that run
    early = {**results[2], "pretrain_epochs": 100, "_path": "l100"}
    rows = build_rows([results[0], results[1], early])
    assert [(r.label, r.runs, sorted(r.paths)) for r in rows] == [
        ("imagenet (100 ep)", 2, ["l100", "p100"]),
        ("imagenet (200 ep)", 1, ["p200"]),
    ]
    assert paper_numbers("cw_rgp4", "imagenet", 300) == {}


def test_paper_results_data():
    assert PAPER_IMAGENET == {
        "cw_rgp4": {100: 69.7, 200: 71.0},
        "intl": {800: 73.1},
        "intl_m": {100: 73.5, 200: 75.2, 400: 76.1, 800: 76.6},
        "resa": {100: 71.9, 200: 73.4, 800: 75.2},
    }
    assert paper_numbers("resa", "imagenet", 200) == {
        "linear_top1": 73.4,
        "knn_top1": 67.1,
        "epochs": 200,
        "source": "paper",
    }
    assert PAPER_RESULTS[("intl", "cifar10")] == {"linear_top1": 92.60, "knn_top1": 90.03, "source": "paper"}
    assert PAPER_RESULTS[("intl", "imagenet100")] == {"linear_top1": 81.68, "knn_top1": 73.46, "source": "paper"}
    assert paper_numbers("intl_m", "imagenet", 400) == {"linear_top1": 76.1, "epochs": 400, "source": "paper"}
    assert paper_numbers("intl", "imagenet", 100) == {}
    # ViT-S/16: ReSA's own and LeJEPA's as lightly's benchmark; compared with runs of that backbone only
    assert paper_numbers("resa", "imagenet", 300, "vit_small_patch16_224") == {
        "linear_top1": 72.7,
        "knn_top1": 68.3,
        "epochs": 300,
        "source": "paper",
    }
    assert paper_numbers("lejepa", "imagenet", 100, "vit_small_patch16_224")["knn_top1"] == 47.1
    assert paper_numbers("resa", "imagenet", 100, "vit_small_patch16_224") == {}  # no ViT number at 100 epochs
    assert paper_numbers("resa", "imagenet", 100, "resnet50")["linear_top1"] == 71.9
    assert paper_numbers("resa", "imagenet", 100, "vit_base_patch16_224") == {}  # another ViT: none
    assert PAPER_RESULTS[("cw_rgp4", "cifar10")] == {"linear_top1": 92.47, "knn_top1": 90.74, "source": "paper"}
    assert PAPER_RESULTS[("byol", "tiny_imagenet")] == {"linear_top1": 51.00, "knn_top1": 36.24, "source": "copy"}
    assert ("w_mse4", "stl10") not in PAPER_RESULTS
    small = [k for k in PAPER_RESULTS if k[1] != "imagenet"]
    assert len(small) == 6 * 4 - 1 + 3  # CW-RGP's table (one blank) and INTL's three datasets
    assert {PAPER_RESULTS[(m, "cifar10")]["source"] for m in ("w_mse4", "w_mse2", "simclr", "byol")} == {"copy"}
    assert PAPER_RESULTS[("cw_rgp2", "stl10")]["source"] == "paper"


# --------------------------------------------------------------------------------------------------
# Rows by setting: runs that differ in a setting are separate rows, only seeds are averaged.

HEADER_COLUMNS = ("method", "dataset", "runs", "linear top-1", "paper", "Δ", "5-NN top-1", "paper", "Δ")
FOOTNOTES = NOTES.format(extra="")
SETTINGS_NOTE = (
    "Setting columns (dotted configuration keys): the values that differ between runs of one method and dataset; "
    "for a linear / k-NN evaluation those of the pretraining run it evaluated, and its own linear.* / knn.*. "
    "Runs differing only in seed, paths, logging or workers share a row. –: not varied there.\n"
)


def _set(config, dotted, value):
    *sections, name = dotted.split(".")
    for section in sections:
        config = config.setdefault(section, {})
    config[name] = value


def _config(overrides=None, seed=1, run_dir="outputs/run"):
    """A resolved configuration shaped like conf/config.yaml's, with its interpolated copies
    (``model.method`` is ``method``, ``model.num_views`` is ``data.num_views``, ``trainer.max_epochs`` is
    ``epochs``); ``overrides``: dotted key -> value, applied before the copies are filled in."""
    config = {
        "stage": "pretrain",
        "experiment_name": None,
        "seed": seed,
        "epochs": 1000,
        "ckpt_path": None,
        "ckpt": None,
        "dataset_from_ckpt": True,
        "checkpoint_every": 100,
        "matmul_precision": "highest",
        "run_dir": run_dir,
        "eval": {
            "enabled": True,
            "every_n_epochs": 10,
            "every_n_epochs_after_drop": 5,
            "knn_k": 5,
            "linear_epochs": 500,
            "evaluate_untrained": False,
            "seed": 0,
        },
        "linear": {"protocol": "fast", "epochs": 500, "batch_size": 1000, "lr": 0.01},
        "knn": {"k": 5, "weighting": "majority", "temperature": 0.07},
        "export": {"format": "torchvision", "output": None},
        "dataset": {
            "name": "cifar10",
            "root": "./data",
            "download": True,
            "num_workers": 8,
            "eval_batch_size": 512,
            "options": {},
        },
        "data": {"batch_size": 256, "num_views": 4, "pipeline": "cpu"},
        "method": {
            "name": "cw_rgp4",
            "family": "whitening_mse",
            "lr": 3.0e-3,
            "drops": [50, 25],
            "whiten": "zca",
            "w_size": 64,
            "eps": 0.0,
            "norm": True,
        },
        "backbone": {"name": "resnet18", "stem": "cifar"},
        "trainer": {
            "accelerator": "auto",
            "devices": 1,
            "precision": "32-true",
            "log_every_n_steps": 50,
            "enable_progress_bar": True,
        },
        "logger": {"kind": "wandb", "project": "whitening-ssl", "tags": []},
    }
    for key, value in (overrides or {}).items():
        _set(config, key, value)
    data, dataset = config["data"], config["dataset"]
    data.update(eval_batch_size=dataset["eval_batch_size"], num_workers=dataset["num_workers"])
    config["model"] = {
        "_target_": "whitening_ssl.methods.build_method",
        "backbone": config["backbone"],
        "method": config["method"],
        "num_views": data["num_views"],
        "dataset": dataset,
    }
    config["trainer"]["max_epochs"] = config["epochs"]
    return json.loads(json.dumps(config))  # as written to results.json: copies are separate objects


def _run(config, knn, linear=None, method="cw_rgp4", dataset="cifar10", path=None):
    final = {"knn_top1": knn} if linear is None else {"knn_top1": knn, "linear_top1": linear}
    return {
        "stage": "pretrain",
        "method": method,
        "dataset": dataset,
        "epochs": config["epochs"],
        "final": final,
        "config": config,
        "_path": path or config["run_dir"],
    }


def _evaluation(stage, final, pretrain_config=None, overrides=None, run_dir="outputs/eval"):
    """A stage=linear / stage=knn result; its own config has the command line's defaults (zca)."""
    result = {
        "stage": stage,
        "method": "cw_rgp4",
        "dataset": "cifar10",
        "epochs": 500,
        "final": final,
        "config": _config(
            {"stage": stage, "ckpt": "outputs/run/checkpoints/last.ckpt", **(overrides or {})}, run_dir=run_dir
        ),
        "_path": run_dir,
    }
    if pretrain_config is not None:
        result["pretrain_config"] = pretrain_config
    return result


def _table_rows(table):
    return table[: table.index("\n\n")].splitlines()


def test_whiten_sweep_gives_a_row_per_setting(tmp_path):
    """``python run.py -m method.whiten=zca,cholesky``: two rows and a method.whiten column, not one
    row "47.27 ± 0.00 (n=2)" averaging the two whitenings as if they were seeds."""
    root = tmp_path / "multirun" / "2026-11-28" / "10-00-00"
    for num, (whiten, knn) in enumerate((("zca", 47.0), ("cholesky", 47.54))):
        run_dir = root / f"{num}_method.whiten={whiten}"
        _write(run_dir, _run(_config({"method.whiten": whiten}, run_dir=str(run_dir)), knn, linear=47.27))
    table = markdown_table(build_rows(collect_results(root)))
    assert table == (
        "| method | dataset | method.whiten | runs | linear top-1 | paper | Δ | 5-NN top-1 | paper | Δ |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
        "| cw_rgp4 | cifar10 | cholesky | 1 | 47.27 | 92.47 | -45.20 | 47.54 | 90.74 | -43.20 |\n"
        "| cw_rgp4 | cifar10 | zca | 1 | 47.27 | 92.47 | -45.20 | 47.00 | 90.74 | -43.74 |\n"
        + FOOTNOTES
        + SETTINGS_NOTE
    )


def test_seeds_of_one_setting_average_into_one_row():
    """Seeds (and their own run_dir, logger tags) are averaged; the other setting stays apart."""
    knn = [47.0, 48.1, 46.4]
    results = [
        _run(_config({"logger.tags": [f"seed{seed}"]}, seed=seed, run_dir=f"multirun/{seed}_seed={seed}"), value)
        for seed, value in zip((1, 2, 3), knn)
    ]
    results.append(_run(_config({"method.whiten": "cholesky"}, run_dir="multirun/cholesky"), 50.0))
    rows = build_rows(results)
    assert [(row.settings, row.runs) for row in rows] == [
        ({"method.whiten": "cholesky"}, 1),
        ({"method.whiten": "zca"}, 3),
    ]
    zca = rows[1]
    mean = sum(knn) / len(knn)
    std = (sum((x - mean) ** 2 for x in knn) / (len(knn) - 1)) ** 0.5  # sample standard deviation
    assert zca.knn.n == 3
    assert abs(zca.knn.mean - mean) < 1e-9 and abs(zca.knn.std - std) < 1e-9  # tolerance: float rounding only
    expected_line = f"| cw_rgp4 | cifar10 | zca | 3 | – | 92.47 | – | {mean:.2f} ± {std:.2f} (n=3) |"
    assert expected_line in markdown_table(rows)
    # two seeds alone: one row, n=2, no setting column
    (row,) = build_rows(results[:2])
    assert row.settings == {} and row.knn.n == 2
    assert _table_rows(markdown_table([row]))[0] == "| " + " | ".join(HEADER_COLUMNS) + " |"


def test_linear_run_joins_its_pretraining_row_through_pretrain_config():
    zca = _config(run_dir="multirun/0_zca")
    cholesky = _config({"method.whiten": "cholesky"}, run_dir="multirun/1_cholesky")
    # the probe's own config says zca (the command line's default) and has its own seed / run_dir:
    # the pretraining settings (and the model) are those of the checkpoint's run, named by pretrain_config
    probe = _evaluation(
        "linear",
        {"linear_top1": 88.25, "linear_top5": 99.0},
        pretrain_config=cholesky,
        overrides={"seed": 3, "linear.lr": 0.1},
    )
    rows = build_rows([_run(zca, 47.0, linear=50.0), _run(cholesky, 47.5, linear=51.0), probe])
    assert [(row.settings, sorted(row.paths), row.runs) for row in rows] == [
        ({"method.whiten": "cholesky"}, ["multirun/1_cholesky", "outputs/eval"], 1),
        ({"method.whiten": "zca"}, ["multirun/0_zca"], 1),
    ]
    assert rows[0].linear.values == [88.25] and rows[0].linear.from_stage  # the probe's figure for Δ ...
    assert rows[0].online["linear_top1"].values == [51.0]  # ... and the online one beside it
    assert rows[0].knn.values == [47.5] and not rows[0].knn.from_stage
    table = markdown_table(rows)
    assert _table_rows(table) == [
        "| method | dataset | method.whiten | runs | linear top-1 | stage=linear | paper | Δ | 5-NN top-1 | paper "
        "| Δ |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        "| cw_rgp4 | cifar10 | cholesky | 1 | 51.00 | 88.25 | 92.47 | -4.22 | 47.50 | 90.74 | -43.24 |",
        "| cw_rgp4 | cifar10 | zca | 1 | 50.00 | – | 92.47 | -42.47 | 47.00 | 90.74 | -43.74 |",
    ]
    assert "linear.lr" not in table.splitlines()[0]  # one probe: its settings do not vary

    # a probe of another cholesky run (seed 7, not in the report): a second model of the same setting
    other = _evaluation(
        "linear",
        {"linear_top1": 88.75},
        pretrain_config=_config({"method.whiten": "cholesky"}, seed=7, run_dir="elsewhere"),
    )
    rows = build_rows([_run(zca, 47.0, linear=50.0), _run(cholesky, 47.5, linear=51.0), other])
    assert _table_rows(markdown_table(rows))[2] == (
        "| cw_rgp4 | cifar10 | cholesky | 2 | 51.00 (n=1) | 88.75 (n=1) | 92.47 | -3.72 | 47.50 (n=1) | 90.74 "
        "| -43.24 |"
    )

    # without pretrain_config the checkpoint's settings are unknown: a row of its own among two settings ...
    unknown = _evaluation("linear", {"linear_top1": 88.25})
    rows = build_rows([_run(zca, 47.0), _run(cholesky, 47.5), unknown])
    assert [(row.settings, row.paths) for row in rows] == [
        ({"method.whiten": "cholesky"}, ["multirun/1_cholesky"]),
        ({"method.whiten": "zca"}, ["multirun/0_zca"]),
        ({}, ["outputs/eval"]),
    ]
    assert _table_rows(markdown_table(rows))[-1] == (
        "| cw_rgp4 | cifar10 | – | 1 | – | 88.25 | 92.47 | -4.22 | – | 90.74 | – |"
    )
    # ... and the only row when there is one pretraining setting (as before settings were compared): two models
    (row,) = build_rows([_run(zca, 47.0), unknown])
    assert row.runs == 2 and row.linear.values == [88.25] and row.knn.values == [47.0]
    # ... unless its checkpoint is in a pretraining run's folder: then it is that run's model
    of_zca = _evaluation("linear", {"linear_top1": 88.25}, overrides={"ckpt": "multirun/0_zca/checkpoints/last.ckpt"})
    (row,) = build_rows([_run(zca, 47.0), _run(cholesky, 47.5), of_zca])[1:]
    assert row.settings == {"method.whiten": "zca"} and row.runs == 1 and row.linear.values == [88.25]


def test_evaluation_settings_split_rows():
    """Two k-NN runs (k=5, k=20) of one checkpoint are two rows, each with the model's online figures."""
    pretrain = _config(run_dir="multirun/0")
    knn5 = _evaluation("knn", {"knn_top1": 47.0}, pretrain_config=pretrain, run_dir="knn5")
    knn20 = _evaluation("knn", {"knn_top1": 45.5}, pretrain_config=pretrain, overrides={"knn.k": 20}, run_dir="knn20")
    rows = build_rows([_run(pretrain, 46.0, linear=50.0), knn20, knn5])
    assert [(row.settings, row.paths) for row in rows] == [
        ({"knn.k": "5"}, ["multirun/0", "knn5"]),
        ({"knn.k": "20"}, ["multirun/0", "knn20"]),
    ]  # 5 < 20: numeric order
    assert _table_rows(markdown_table(rows)) == [
        "| method | dataset | knn.k | runs | linear top-1 | paper | Δ | 5-NN top-1 | stage=knn | paper | Δ |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        "| cw_rgp4 | cifar10 | 5 | 1 | 50.00 | 92.47 | -42.47 | 46.00 | 47.00 | 90.74 | -43.74 |",
        "| cw_rgp4 | cifar10 | 20 | 1 | 50.00 | 92.47 | -42.47 | 46.00 | 45.50 | 90.74 | -45.24 |",
    ]
    # a linear probe and a k-NN run of one checkpoint: each evaluation's section is its own; one model, one row
    probe = _evaluation("linear", {"linear_top1": 52.0}, pretrain_config=pretrain, overrides={"knn.k": 50})
    (row,) = build_rows([_run(pretrain, 46.0, linear=50.0), knn20, probe])
    assert row.runs == 1 and row.settings == {} and row.knn.values == [45.5] and row.linear.values == [52.0]
    assert row.online["knn_top1"].values == [46.0] and row.online["linear_top1"].values == [50.0]
    assert sorted(row.paths) == ["knn20", "multirun/0", "outputs/eval"]


# A concrete key for each ignored pattern (several for copies); the test checks it covers them all.
IGNORED_EXAMPLES = {
    "seed": 2,
    "eval.seed": 1,
    "run_dir": "b",
    "ckpt_path": "x.ckpt",
    "ckpt": "y.ckpt",
    "experiment_name": "exp",
    "stage": "other",
    "logger.project": "p",
    "logger.tags": ["b"],
    "hydra.job.num": 3,
    "checkpoint_every": 5,
    "checkpoint_every_steps": 9,
    "dataset.root": "/data",
    "dataset.download": False,
    "data.root": "/data",
    "data.download": False,
    "model.dataset.root": "/data",
    "model.dataset.download": False,
    "dataset.num_workers": 2,
    "data.num_workers": 2,
    "model.dataset.num_workers": 2,
    "dataset.eval_batch_size": 64,
    "data.eval_batch_size": 64,
    "model.dataset.eval_batch_size": 64,
    "trainer.enable_progress_bar": False,
    "trainer.log_every_n_steps": 1,
    "trainer.default_root_dir": "r",
    "eval.every_n_epochs": 1,
    "eval.every_n_epochs_after_drop": 1,
    "eval.enabled": False,
    "eval.evaluate_untrained": True,
    "analysis.spectrum": True,
    "linear.lr": 0.5,
    "knn.k": 200,
    "export.format": "detectron2",
    "dataset_from_ckpt": False,
    "model.analysis.every_n_steps": 10,
    "overrides": ["seed=2"],
    "channels_last": True,
    "compile": True,
    "data.verify_images": "all",
    "data.on_bad_image": "stop",
    "matmul_precision": "high",
}


def test_ignored_keys_never_make_columns():
    from fnmatch import fnmatchcase

    from whitening_ssl.report import IGNORED_SETTINGS, PRETRAIN_IGNORED_SETTINGS, run_settings

    for pattern in IGNORED_SETTINGS + PRETRAIN_IGNORED_SETTINGS:
        assert any(fnmatchcase(key, pattern) for key in IGNORED_EXAMPLES), f"no example for {pattern}"
    first = _config(run_dir="a")
    second = _config(run_dir="a")
    for key, value in IGNORED_EXAMPLES.items():
        _set(second, key, value)
    second["logger"] = None  # a section replaced by a value is ignored too
    assert flatten_settings(first) != flatten_settings(second)
    (row,) = build_rows([_run(first, 47.0, path="a"), _run(second, 48.0, path="b")])
    assert row.settings == {} and row.runs == 2 and row.knn.values == [47.0, 48.0]
    assert _table_rows(markdown_table([row]))[0] == "| " + " | ".join(HEADER_COLUMNS) + " |"
    assert SETTINGS_NOTE.strip() not in markdown_table([row])
    assert not set(run_settings(_run(second, 48.0))[0]) & set(IGNORED_EXAMPLES)
    # the same pair differing in one setting that matters: a column
    _set(second, "trainer.precision", "bf16-mixed")
    rows = build_rows([_run(first, 47.0, path="a"), _run(second, 48.0, path="b")])
    assert [row.settings for row in rows] == [{"trainer.precision": "32-true"}, {"trainer.precision": "bf16-mixed"}]


def test_interpolated_copies_give_one_column_in_numeric_order():
    """data.num_views is also model.num_views, method.drops also model.method.drops: one column each, named
    by the key that is not a copy; numbers sort by value (200 < 1000, 2 < 4 < 8), lists show as JSON."""
    results = [_run(_config({"data.num_views": views}, run_dir=f"b{views}"), 47.0) for views in (8, 2, 4)]
    results.append(_run(_config({"data.num_views": 4, "method.drops": [30, 15]}, run_dir="d"), 47.0))
    results.append(_run(_config({"epochs": 200}, run_dir="e"), 47.0))  # also trainer.max_epochs
    rows = build_rows(results)
    assert [row.settings for row in rows] == [  # by views (2 < 4 < 8), then epochs (200 < 1000), then drops
        {"data.num_views": "2", "epochs": "1000", "method.drops": "[50, 25]"},
        {"data.num_views": "4", "epochs": "200", "method.drops": "[50, 25]"},
        {"data.num_views": "4", "epochs": "1000", "method.drops": "[30, 15]"},
        {"data.num_views": "4", "epochs": "1000", "method.drops": "[50, 25]"},
        {"data.num_views": "8", "epochs": "1000", "method.drops": "[50, 25]"},
    ]
    assert _table_rows(markdown_table(rows))[0] == (
        "| method | dataset | data.num_views | epochs | method.drops | runs | linear top-1 | paper | Δ "
        "| 5-NN top-1 | paper | Δ |"
    )


def test_setting_columns_per_method_and_added_keys():
    """Columns come from the runs of one (method, dataset): another row shows – there. A key only
    one run has (``+method.extra=1``) is a difference; 256 and 256.0 are one value."""
    cw = [_run(_config({"method.whiten": w}, run_dir=w), 47.0) for w in ("zca", "cholesky")]
    w_mse = [
        _run(
            _config({"method.name": "w_mse2", "method.whiten": "cholesky", "method.lr": lr}, run_dir=str(lr)),
            47.0,
            method="w_mse2",
        )
        for lr in (1e-3, 2e-3)
    ]
    table = markdown_table(build_rows(cw + w_mse))
    assert _table_rows(table)[2:] == [
        "| cw_rgp4 | cifar10 | – | cholesky | 1 | – | 92.47 | – | 47.00 | 90.74 | -43.74 |",
        "| cw_rgp4 | cifar10 | – | zca | 1 | – | 92.47 | – | 47.00 | 90.74 | -43.74 |",
        "| w_mse2 | cifar10 | 0.001 | – | 1 | – | 91.55† | – | 47.00 | 89.69† | -42.69 |",
        "| w_mse2 | cifar10 | 0.002 | – | 1 | – | 91.55† | – | 47.00 | 89.69† | -42.69 |",
    ]
    assert _table_rows(table)[0].startswith("| method | dataset | method.lr | method.whiten | runs |")
    extra = [_run(_config(run_dir="a"), 47.0), _run(_config({"method.extra": 1}, run_dir="b"), 48.0)]
    assert [row.settings for row in build_rows(extra)] == [{"method.extra": "1"}, {}]
    same = [
        _run(_config({"data.batch_size": 256}, run_dir="a"), 47.0),
        _run(_config({"data.batch_size": 256.0}, run_dir="b"), 48.0),
    ]
    assert [row.runs for row in build_rows(same)] == [2]


def test_imagenet_epochs_rows_have_no_epochs_column():
    """ImageNet rows are already split by pretraining epochs: epochs is not a setting column there."""
    results = [
        _run(_config({"epochs": epochs, "dataset.name": "imagenet"}, run_dir=str(epochs)), 50.0, dataset="imagenet")
        for epochs in (100, 200)
    ]
    rows = build_rows(results)
    assert [(row.label, row.settings) for row in rows] == [("imagenet (100 ep)", {}), ("imagenet (200 ep)", {})]


def test_flatten_settings():
    assert flatten_settings(
        {"method": {"whiten": "zca", "drops": [50, 25]}, "dataset": {"options": {}}, "seed": 1}
    ) == {"method.whiten": "zca", "method.drops": "[50, 25]", "seed": 1}


def test_curves_keep_every_seed_of_a_setting_apart():
    """The table averages seeds; the curves of ``--plots`` draw each run, labelled by its settings and, where
    two runs share them, by its seed; by its folder only where the seed does not tell them apart either."""
    from whitening_ssl.report import curves

    results = []
    for whiten in ("zca", "pca"):
        for seed in (1, 2):
            run_dir = f"multirun/{whiten}_{seed}/{whiten}_seed{seed}"
            result = _run(
                _config({"method.whiten": whiten}, seed=seed, run_dir=run_dir),
                40.0 + seed,
                path=f"{run_dir}/results.json",
            )
            result["history"] = [{"epoch": 1, "knn_top1": 10.0 * seed + (whiten == "pca")}]
            results.append(result)
    results.append(
        {
            **results[0],
            "_path": "other/results.json",
            "config": _config({"method.whiten": "bn"}),
            "history": [{"epoch": 1, "knn_top1": 5.0}],
        }
    )
    assert curves(results, "knn_top1") == {
        "method.whiten=zca seed=1": [(1.0, 10.0)],
        "method.whiten=zca seed=2": [(1.0, 20.0)],
        "method.whiten=pca seed=1": [(1.0, 11.0)],
        "method.whiten=pca seed=2": [(1.0, 21.0)],
        "method.whiten=bn": [(1.0, 5.0)],
    }
    # the same run twice (same seed, two folders): the folder is all that tells them apart
    again = {**results[0], "_path": "again/zca_seed1/results.json", "history": [{"epoch": 1, "knn_top1": 9.0}]}
    assert curves([results[0], again], "knn_top1") == {  # as much of the path as tells the folders apart
        "cw_rgp4 (zca_1/zca_seed1)": [(1.0, 10.0)],
        "cw_rgp4 (again/zca_seed1)": [(1.0, 9.0)],
    }


def test_labels_name_runs_by_method_and_dataset_not_by_their_many_settings():
    """cw_rgp4 and w_mse2 differ in a dozen method.* keys: the legend says cw_rgp4 / w_mse2; what all runs
    share goes to the title; one run alone is named by its method."""
    from whitening_ssl.report import run_labels
    from whitening_ssl.report.figures import shared_context

    cw = _run(_config(run_dir="a"), 47.0, path="a/results.json")
    w_mse = _run(
        _config(
            {"method.name": "w_mse2", "method.whiten": "cholesky", "method.num_views": 2, "method.w_size": 128},
            run_dir="b",
        ),
        47.0,
        method="w_mse2",
        path="b/results.json",
    )
    assert run_labels([cw, w_mse]) == {"a/results.json": "cw_rgp4", "b/results.json": "w_mse2"}
    assert shared_context([cw, w_mse]) == "cifar10"
    c100 = _run(_config({"dataset.name": "cifar100"}, run_dir="c"), 40.0, dataset="cifar100", path="c/results.json")
    lr = _run(_config({"method.lr": 1e-3}, run_dir="d"), 47.0, path="d/results.json")
    assert run_labels([cw, w_mse, c100, lr]) == {
        "a/results.json": "cw_rgp4 cifar10 method.lr=0.003",
        "b/results.json": "w_mse2 cifar10",
        "c/results.json": "cw_rgp4 cifar100",
        "d/results.json": "cw_rgp4 cifar10 method.lr=0.001",
    }
    assert shared_context([cw, w_mse, c100]) == ""
    assert run_labels([cw]) == {"a/results.json": "cw_rgp4"} and shared_context([cw]) == "cw_rgp4 on cifar10"


# --------------------------------------------------------------------------------------------------
# One run: the quickstart (one evaluation, at the end, with the untrained baseline), then its linear
# probe and k-NN run. One row, runs 1, the figures as points from epoch 0 with the baseline.

QUICKSTART = "outputs/2026-11-28/09-30-00_cw_rgp2_quickstart_fashion_mnist"
ANALYSIS = ("analysis/embedding/effective_rank", "analysis/whitened/stable_rank", "analysis/whitened/negative_cosine")


def _quickstart(root):
    """The results.json of the quickstart and of stage=linear / stage=knn runs of its last.ckpt, under ``root``."""
    run = root / QUICKSTART
    config = _config(
        {
            "method.name": "cw_rgp2_quickstart",
            "dataset.name": "fashion_mnist",
            "epochs": 2,
            "eval.every_n_epochs": 0,
            "eval.evaluate_untrained": True,
        },
        run_dir=str(run),
    )
    final = {"knn_top1": 76.26, "linear_top1": 79.30, "linear_top5": 99.37, **dict(zip(ANALYSIS, (40.0, 0.8, 0.01)))}
    untrained = {"knn_top1": 52.29, "linear_top1": 50.50, "linear_top5": 92.15, **dict(zip(ANALYSIS, (5.0, 0.1, 0.3)))}
    _write(
        run,
        {
            "stage": "pretrain",
            "method": "cw_rgp2_quickstart",
            "dataset": "fashion_mnist",
            "epochs": 2,
            "final": final,
            "untrained": untrained,
            "history": [{"epoch": 2, **final, "eval_seconds": 60.0}],
            "last_checkpoint": str(run / "checkpoints" / "last.ckpt"),
            "run_dir": str(run),
            "config": config,
        },
    )
    evaluation = {"method": "cw_rgp2_quickstart", "dataset": "fashion_mnist", "pretrain_epochs": 2}
    # the probe read a copy of the checkpoint: the run is known by its pretrain_config (saved in the checkpoint)
    _write(
        root / "outputs/2026-11-28/09-40-00_linear",
        {
            "stage": "linear",
            **evaluation,
            "epochs": 500,
            "checkpoint": str(root / "copy.ckpt"),
            "pretrain_config": config,
            "final": {"linear_top1": 79.41, "linear_top5": 99.4},
            "config": _config({"stage": "linear"}, run_dir=str(root / "outputs/2026-11-28/09-40-00_linear")),
        },
    )
    # an older checkpoint without its configuration: the run is known by the checkpoint's folder (relative path)
    _write(
        root / "outputs/2026-11-28/09-50-00_knn",
        {
            "stage": "knn",
            **evaluation,
            "checkpoint": f"{QUICKSTART}/checkpoints/last.ckpt",
            "final": {"knn_top1": 76.30},
            "config": _config({"stage": "knn"}, run_dir=str(root / "outputs/2026-11-28/09-50-00_knn")),
        },
    )
    return run


def test_one_run_with_its_stage_results_is_one_row(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # where the runs were started: the k-NN run's checkpoint path is relative to it
    _quickstart(tmp_path)
    assert main(["outputs"]) == 0
    table = capsys.readouterr().out
    assert _table_rows(table) == [
        "| method | dataset | runs | linear top-1 | untrained | stage=linear | paper | Δ "
        "| 5-NN top-1 | untrained | stage=knn | paper | Δ |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        "| cw_rgp2_quickstart | fashion_mnist | 1 | 79.30 | 50.50 | 79.41 | – | – | 76.26 | 52.29 | 76.30 | – | – |",
    ]
    assert table[table.index("\n\n") + 1 :] == NOTES.format(
        extra=UNTRAINED_NOTE + STAGE_NOTE.format(stages="stage=linear / stage=knn")
    )
    (row,) = build_rows(collect_results(tmp_path / "outputs"))
    assert row.runs == 1 and len(row.paths) == 3
    assert (row.untrained["knn_top1"].values, row.staged["knn_top1"].values) == ([52.29], [76.3])


def test_one_run_figures_are_points_from_epoch_0_with_the_baseline(tmp_path, monkeypatch, capsys):
    from whitening_ssl.analysis import plots
    from whitening_ssl.report import PLOT_METRICS

    monkeypatch.chdir(tmp_path)
    _quickstart(tmp_path)
    drawn = {}
    original = plots.plot_metric_curves

    def plot_metric_curves(runs, metric, **options):
        figure = original(runs, metric, **options)
        axes = figure.axes[0]
        drawn[metric] = {
            "lines": {line.get_label(): line.get_xydata().tolist() for line in axes.lines},
            "markers": [line.get_marker() for line in axes.lines],
            "xlim": axes.get_xlim(),
            "title": axes.get_title(),
            "legend": [t.get_text() for t in axes.get_legend().get_texts()],
        }
        return figure

    monkeypatch.setattr(plots, "plot_metric_curves", plot_metric_curves)
    assert main(["outputs", "--plots"]) == 0
    assert sorted(p.name for p in (tmp_path / "outputs" / "plots").iterdir()) == sorted(
        metric.replace("/", "_") + ".png" for metric, _ in PLOT_METRICS
    )  # linear top-1 too: the quickstart has it
    results = json.loads((tmp_path / QUICKSTART / "results.json").read_text())
    for metric, title in PLOT_METRICS:
        figure = drawn[title]
        assert figure["lines"] == {  # the one evaluation at epoch 2, the untrained encoder at epoch 0
            "cw_rgp2_quickstart": [[2.0, results["final"][metric]]],
            "cw_rgp2_quickstart (untrained)": [[0.0, results["untrained"][metric]]],
        }
        assert "None" not in figure["markers"]  # points, not lines that one value cannot draw
        low, high = figure["xlim"]
        assert -1.0 <= low < 0.0 and 2.0 < high <= 3.0  # from epoch 0, not 1.9 to 2.1
        assert figure["title"] == f"{title}: cw_rgp2_quickstart on fashion_mnist, run {Path(QUICKSTART).name}"
        assert figure["legend"] == ["cw_rgp2_quickstart", "untrained encoder (epoch 0)"]


def test_an_evaluation_on_another_dataset_is_a_row_of_its_own(tmp_path):
    """dataset_from_ckpt=false: the model's transfer to another dataset is not its pretraining dataset's figure."""
    run = _quickstart(tmp_path)
    transfer = {
        **json.loads((tmp_path / "outputs/2026-11-28/09-40-00_linear/results.json").read_text()),
        "dataset": "cifar10",
        "checkpoint": str(run / "checkpoints" / "last.ckpt"),
        "_path": "transfer",
    }
    rows = build_rows([*collect_results(run), transfer])
    assert [
        (row.dataset, row.runs, row.online["linear_top1"].values, row.staged["linear_top1"].values) for row in rows
    ] == [("cifar10", 1, [], [79.41]), ("fashion_mnist", 1, [79.3], [])]


def test_a_sweep_of_jobs_that_ran_elsewhere_prints_each_jobs_table_in_job_order(tmp_path):
    from omegaconf import OmegaConf

    from whitening_ssl.cli.sweep_summary import jobs_ran_elsewhere, remove_unformatted_folder, summary_lines

    for number, overrides, final in ((10, ["method.emb=64"], {"knn_top1": 50.0}), (2, ["method.emb=128"], None)):
        hydra = tmp_path / f"{number}_cw_rgp4_synthetic" / ".hydra"
        hydra.mkdir(parents=True)
        OmegaConf.save(OmegaConf.create(overrides), hydra / "overrides.yaml")
        if final:
            (hydra.parent / "results.json").write_text(json.dumps({"final": final}))
    (tmp_path / ".submitit" / "%j").mkdir(parents=True)
    remove_unformatted_folder(tmp_path)
    assert not (tmp_path / ".submitit" / "%j").exists()
    assert summary_lines(tmp_path) == [
        "job #2 (method.emb=128):",
        f"no results.json: the job's output is in {tmp_path / '.submitit'}/<job id>/",
        "job #10 (method.emb=64):",
        "metric           trained",
        "knn_top1           50.00",
        f"results: {tmp_path / '10_cw_rgp4_synthetic' / 'results.json'}",
    ]
    launcher = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"
    assert jobs_ran_elsewhere(OmegaConf.create({"hydra": {"launcher": {"_target_": launcher}}}))
    assert not jobs_ran_elsewhere(
        OmegaConf.create(
            {"hydra": {"launcher": {"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}}}
        )
    )


def test_the_checkpoints_of_one_run_are_rows_apart_named_by_their_epoch(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    run = _quickstart(tmp_path)
    probe = json.loads((tmp_path / "outputs/2026-11-28/09-40-00_linear/results.json").read_text())
    _write(
        tmp_path / "outputs/2026-11-28/10-00-00_linear",  # the probe of the run's epoch0001.ckpt
        {
            **probe,
            "checkpoint": str(run / "checkpoints" / "epoch0001.ckpt"),
            "pretrain_epochs": 1,
            "final": {"linear_top1": 70.12, "linear_top5": 98.0},
        },
    )
    assert main(["outputs"]) == 0
    rows = _table_rows(capsys.readouterr().out)
    assert rows[0].startswith(
        "| method | dataset | checkpoint.epoch | runs | linear top-1 | untrained | stage=linear |"
    )
    assert [row.split(" | ")[2:7] for row in rows[2:]] == [
        ["1", "1", "–", "–", "70.12"],
        ["2", "1", "79.30", "50.50", "79.41"],
    ]


def test_plots_with_nothing_to_plot_says_so_in_one_line(sweep, capsys):
    root, _ = sweep  # final figures only: no evaluation history to draw
    assert main([str(root), "--plots"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("--plots")]
    assert err == [
        "--plots: nothing to plot (the figures are curves of pretraining runs' evaluations, "
        "results.json 'history'; these results have none): no figure written"
    ]
    assert not (root / "plots").exists()
