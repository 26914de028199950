"""The reproduction table (python -m whitening_ssl.report): reading, merging, rendering, CLI."""

import json
import runpy
import sys
from pathlib import Path

import pytest

from whitening_ssl.paper_results import PAPER_IMAGENET, PAPER_RESULTS, paper_numbers
from whitening_ssl.report import build_rows, collect_results, flatten_settings, main, markdown_table

EXPECTED = """\
| method | dataset | runs | linear top-1 | paper | Δ | 5-NN top-1 | paper | Δ |
|---|---|---|---|---|---|---|---|---|
| cw_rgp4 | cifar10 | 2 | 92.15 ± 0.21 (n=2) | 92.47 | -0.32 | 90.30 ± 0.28 (n=2) | 90.74 | -0.44 |
| w_mse2 | cifar10 | 2 | 91.86‡ | 91.55† | +0.31 | 89.80 | 89.69† | +0.11 |
| cw_rgp2 | fashion_mnist | 1 | 88.50 | – | – | 87.25 | – | – |

Paper numbers: Weng et al. 2022 (CW-RGP, NeurIPS), table of Sec. 4.1 (small datasets) and the official repository (ImageNet); † third-party copy
Ours: mean over runs, ± sample standard deviation (n runs) when more than one; ‡ from a separate stage=linear / stage=knn evaluation (preferred to the online evaluation of pretraining). Δ = ours - paper. runs: results.json files merged.
"""


def _pretrain(method, dataset, linear, knn, seed=1, epochs=1000):
    return {"stage": "pretrain", "method": method, "dataset": dataset, "backbone": "resnet18", "epochs": epochs,
            "final": {"knn_top1": knn, "linear_top1": linear, "linear_top5": 99.5},
            "config": {"experiment_name": f"paper/{dataset}_{method}", "seed": seed}}


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
    _write(root / "2_method=w_mse2" / "linear",
           {"stage": "linear", "method": "w_mse2", "dataset": "cifar10", "epochs": 500,
            "final": {"linear_top1": 91.86, "linear_top5": 99.7}})
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
    assert f"no results.json under {tmp_path / 'empty'}" in lines[0] and "python run.py" in lines[0]
    assert not (tmp_path / "empty" / "reproduction.md").exists()


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
    assert exit_info.value.code == 2 and "no results.json under" in capsys.readouterr().err


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
        ("cw_rgp2", "cifar10"), ("cw_rgp2_quickstart", "cifar10"), ("pca", "cifar100"),
        ("w_mse4", "stl10"), ("byol", "stl10")]
    assert rows[0].paper_value("linear_top1") == 91.92
    assert rows[1].paper == {} and rows[2].paper == {}
    assert rows[3].paper == {}  # W-MSE 4 on STL-10 is "-" in the paper
    assert rows[4].paper["source"] == "copy"


def test_imagenet_paper_number_by_epochs():
    results = [
        {**_pretrain("cw_rgp4", "imagenet", 0.0, 50.0, epochs=100), "_path": "p100"},
        {**_pretrain("cw_rgp4", "imagenet", 0.0, 52.0, epochs=200), "_path": "p200"},
        {"stage": "linear", "method": "cw_rgp4", "dataset": "imagenet", "epochs": 100, "pretrain_epochs": 200,
         "final": {"linear_top1": 70.5}, "_path": "l200"},
    ]
    rows = build_rows(results)
    assert [(r.label, r.runs) for r in rows] == [("imagenet (100 ep)", 1), ("imagenet (200 ep)", 2)]
    assert rows[0].paper_value("linear_top1") == 69.7 and rows[0].paper_value("knn_top1") is None
    assert rows[1].paper_value("linear_top1") == 71.0
    assert rows[1].linear.values == [70.5] and rows[1].linear.from_stage
    assert rows[1].delta("linear_top1") == -0.5
    line = markdown_table(rows).splitlines()[3]
    assert line == "| cw_rgp4 | imagenet (200 ep) | 2 | 70.50‡ | 71.00 | -0.50 | 52.00 | – | – |"
    # a probe without pretrain_epochs joins the only ImageNet pretraining row of its method
    probe = {"stage": "linear", "method": "cw_rgp4", "dataset": "imagenet", "epochs": 100,
             "final": {"linear_top1": 69.0}, "_path": "l"}
    (row,) = build_rows([results[1], probe])
    assert row.epochs == 200 and row.runs == 2 and row.paper_value("linear_top1") == 71.0
    assert paper_numbers("cw_rgp4", "imagenet", 300) == {}


def test_paper_results_data():
    assert PAPER_IMAGENET == {100: 69.7, 200: 71.0}
    assert PAPER_RESULTS[("cw_rgp4", "cifar10")] == {"linear_top1": 92.47, "knn_top1": 90.74, "source": "paper"}
    assert PAPER_RESULTS[("byol", "tiny_imagenet")] == {"linear_top1": 51.00, "knn_top1": 36.24, "source": "copy"}
    assert ("w_mse4", "stl10") not in PAPER_RESULTS
    small = [k for k in PAPER_RESULTS if k[1] != "imagenet"]
    assert len(small) == 6 * 4 - 1
    assert {PAPER_RESULTS[(m, "cifar10")]["source"] for m in ("w_mse4", "w_mse2", "simclr", "byol")} == {"copy"}
    assert PAPER_RESULTS[("cw_rgp2", "stl10")]["source"] == "paper"


# --------------------------------------------------------------------------------------------------
# Rows by setting: runs that differ in a setting are separate rows, only seeds are averaged.

HEADER_COLUMNS = ("method", "dataset", "runs", "linear top-1", "paper", "Δ", "5-NN top-1", "paper", "Δ")
FOOTNOTES = EXPECTED[EXPECTED.index("\nPaper numbers"):]
SETTINGS_NOTE = (
    "Setting columns (dotted configuration keys): the values that differ between runs of one method and dataset; "
    "for a linear / k-NN evaluation those of the pretraining run it evaluated, and its own linear.* / knn.*. "
    "Runs differing only in seed, paths, logging or workers share a row. –: not varied there.\n")


def _set(config, dotted, value):
    *sections, name = dotted.split(".")
    for section in sections:
        config = config.setdefault(section, {})
    config[name] = value


def _config(overrides=None, seed=1, run_dir="outputs/run"):
    """A resolved configuration shaped like conf/config.yaml's, with its interpolated copies
    (``model.method`` is ``method``, ``data.batch_size`` is ``method.batch_size``, ``trainer.max_epochs``
    is ``epochs``); ``overrides``: dotted key -> value, applied before the copies are filled in."""
    config = {
        "stage": "pretrain", "experiment_name": None, "seed": seed, "epochs": 1000, "ckpt_path": None, "ckpt": None,
        "dataset_from_ckpt": True, "checkpoint_every": 100, "matmul_precision": "highest", "run_dir": run_dir,
        "eval": {"enabled": True, "every_n_epochs": 10, "every_n_epochs_after_drop": 5, "knn_k": 5,
                 "linear_epochs": 500, "evaluate_untrained": False, "seed": 0},
        "linear": {"protocol": "fast", "epochs": 500, "batch_size": 1000, "lr": 0.01},
        "knn": {"k": 5, "weighting": "majority", "temperature": 0.07},
        "export": {"format": "torchvision", "output": None},
        "dataset": {"name": "cifar10", "root": "./data", "download": True, "remove_maxpool": True, "num_workers": 8,
                    "eval_batch_size": 512, "options": {}},
        "method": {"name": "cw_rgp4", "batch_size": 256, "lr": 3.0e-3, "drops": [50, 25], "num_views": 4,
                   "whiten": "zca", "w_size": 64, "eps": 0.0, "norm": True},
        "backbone": {"name": "resnet18", "small_stem": True},
        "trainer": {"accelerator": "auto", "devices": 1, "precision": "32-true", "log_every_n_steps": 50,
                    "enable_progress_bar": True},
        "logger": {"kind": "wandb", "project": "whitening-ssl", "tags": []},
    }
    for key, value in (overrides or {}).items():
        _set(config, key, value)
    method, dataset = config["method"], config["dataset"]
    config["model"] = {"_target_": "whitening_ssl.methods.WhiteningPretrainModule", "backbone": config["backbone"],
                       "method": method, "remove_maxpool": dataset["remove_maxpool"], "dataset": dataset}
    config["data"] = {"name": dataset["name"], "root": dataset["root"], "download": dataset["download"],
                      "batch_size": method["batch_size"], "eval_batch_size": dataset["eval_batch_size"],
                      "num_views": method["num_views"], "num_workers": dataset["num_workers"]}
    config["trainer"]["max_epochs"] = config["epochs"]
    return json.loads(json.dumps(config))  # as written to results.json: copies are separate objects


def _run(config, knn, linear=None, method="cw_rgp4", dataset="cifar10", path=None):
    final = {"knn_top1": knn} if linear is None else {"knn_top1": knn, "linear_top1": linear}
    return {"stage": "pretrain", "method": method, "dataset": dataset, "epochs": config["epochs"], "final": final,
            "config": config, "_path": path or config["run_dir"]}


def _evaluation(stage, final, pretrain_config=None, overrides=None, run_dir="outputs/eval"):
    """A stage=linear / stage=knn result; its own config has the command line's defaults (zca)."""
    result = {"stage": stage, "method": "cw_rgp4", "dataset": "cifar10", "epochs": 500, "final": final,
              "config": _config({"stage": stage, "ckpt": "outputs/run/checkpoints/last.ckpt", **(overrides or {})},
                                run_dir=run_dir),
              "_path": run_dir}
    if pretrain_config is not None:
        result["pretrain_config"] = pretrain_config
    return result


def _table_rows(table):
    return table[:table.index("\n\n")].splitlines()


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
        + FOOTNOTES + SETTINGS_NOTE)


def test_seeds_of_one_setting_average_into_one_row():
    """Seeds (and their own run_dir, logger tags) are averaged; the other setting stays apart."""
    knn = [47.0, 48.1, 46.4]
    results = [_run(_config({"logger.tags": [f"seed{seed}"]}, seed=seed, run_dir=f"multirun/{seed}_seed={seed}"), value)
               for seed, value in zip((1, 2, 3), knn)]
    results.append(_run(_config({"method.whiten": "cholesky"}, run_dir="multirun/cholesky"), 50.0))
    rows = build_rows(results)
    assert [(row.settings, row.runs) for row in rows] == [({"method.whiten": "cholesky"}, 1),
                                                          ({"method.whiten": "zca"}, 3)]
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
    # the pretraining settings are those of the checkpoint's run
    probe = _evaluation("linear", {"linear_top1": 88.25, "linear_top5": 99.0},
                        pretrain_config=_config({"method.whiten": "cholesky"}, seed=7, run_dir="elsewhere"),
                        overrides={"seed": 3, "linear.lr": 0.1})
    rows = build_rows([_run(zca, 47.0, linear=50.0), _run(cholesky, 47.5, linear=51.0), probe])
    assert [(row.settings, sorted(row.paths)) for row in rows] == [
        ({"method.whiten": "cholesky"}, ["multirun/1_cholesky", "outputs/eval"]),
        ({"method.whiten": "zca"}, ["multirun/0_zca"])]
    assert rows[0].linear.values == [88.25] and rows[0].linear.from_stage  # the probe's figure, not the online 51.0
    assert rows[0].knn.values == [47.5] and not rows[0].knn.from_stage
    table = markdown_table(rows)
    assert "| cw_rgp4 | cifar10 | cholesky | 2 | 88.25‡ | 92.47 | -4.22 | 47.50 | 90.74 | -43.24 |" in table
    assert "linear.lr" not in table.splitlines()[0]  # one probe: its settings do not vary

    # without pretrain_config the checkpoint's settings are unknown: a row of its own among two settings ...
    unknown = _evaluation("linear", {"linear_top1": 88.25})
    rows = build_rows([_run(zca, 47.0), _run(cholesky, 47.5), unknown])
    assert [(row.settings, row.paths) for row in rows] == [
        ({"method.whiten": "cholesky"}, ["multirun/1_cholesky"]), ({"method.whiten": "zca"}, ["multirun/0_zca"]),
        ({}, ["outputs/eval"])]
    assert _table_rows(markdown_table(rows))[-1] == (
        "| cw_rgp4 | cifar10 | – | 1 | 88.25‡ | 92.47 | -4.22 | – | 90.74 | – |")
    # ... and the only row when there is one pretraining setting (as before settings were compared)
    (row,) = build_rows([_run(zca, 47.0), unknown])
    assert row.runs == 2 and row.linear.values == [88.25] and row.knn.values == [47.0]


def test_evaluation_settings_split_rows():
    """Two k-NN runs (k=5, k=20) of one checkpoint are two rows; the online figures a third."""
    pretrain = _config(run_dir="multirun/0")
    knn5 = _evaluation("knn", {"knn_top1": 47.0}, pretrain_config=pretrain, run_dir="knn5")
    knn20 = _evaluation("knn", {"knn_top1": 45.5}, pretrain_config=pretrain, overrides={"knn.k": 20}, run_dir="knn20")
    rows = build_rows([_run(pretrain, 46.0, linear=50.0), knn20, knn5])
    assert [(row.settings, row.paths) for row in rows] == [
        ({"knn.k": "5"}, ["knn5"]), ({"knn.k": "20"}, ["knn20"]), ({}, ["multirun/0"])]  # 5 < 20: numeric order
    assert _table_rows(markdown_table(rows)) == [
        "| method | dataset | knn.k | runs | linear top-1 | paper | Δ | 5-NN top-1 | paper | Δ |",
        "|---|---|---|---|---|---|---|---|---|---|",
        "| cw_rgp4 | cifar10 | 5 | 1 | – | 92.47 | – | 47.00‡ | 90.74 | -43.74 |",
        "| cw_rgp4 | cifar10 | 20 | 1 | – | 92.47 | – | 45.50‡ | 90.74 | -45.24 |",
        "| cw_rgp4 | cifar10 | – | 1 | 50.00 | 92.47 | -42.47 | 46.00 | 90.74 | -44.74 |"]
    # a linear probe and a k-NN run of one checkpoint: each evaluation's section is its own, one row
    probe = _evaluation("linear", {"linear_top1": 52.0}, pretrain_config=pretrain, overrides={"knn.k": 50})
    (row,) = build_rows([_run(pretrain, 46.0, linear=50.0), knn20, probe])
    assert row.runs == 3 and row.settings == {} and row.knn.values == [45.5] and row.linear.values == [52.0]


# A concrete key for each ignored pattern (several for copies); the test checks it covers them all.
IGNORED_EXAMPLES = {
    "seed": 2, "eval.seed": 1, "run_dir": "b", "ckpt_path": "x.ckpt", "ckpt": "y.ckpt", "experiment_name": "exp",
    "stage": "other", "logger.project": "p", "logger.tags": ["b"], "hydra.job.num": 3, "checkpoint_every": 5,
    "checkpoint_every_steps": 9, "dataset.root": "/data", "dataset.download": False, "data.root": "/data",
    "data.download": False, "model.dataset.root": "/data", "model.dataset.download": False,
    "dataset.num_workers": 2, "data.num_workers": 2, "model.dataset.num_workers": 2, "dataset.eval_batch_size": 64,
    "data.eval_batch_size": 64, "model.dataset.eval_batch_size": 64, "trainer.enable_progress_bar": False,
    "trainer.log_every_n_steps": 1, "trainer.default_root_dir": "r", "eval.every_n_epochs": 1,
    "eval.every_n_epochs_after_drop": 1, "eval.enabled": False, "eval.evaluate_untrained": True,
    "analysis.spectrum": True, "linear.lr": 0.5, "knn.k": 200, "export.format": "detectron2",
    "dataset_from_ckpt": False, "model.analysis.every_n_steps": 10, "overrides": ["seed=2"], "channels_last": True,
    "compile": True, "data.verify_images": "all", "data.on_bad_image": "stop", "matmul_precision": "high",
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
    """method.batch_size is also data.batch_size and model.method.batch_size: one column, named by
    the key that is not a copy; numbers sort by value (200 < 1000, 64 < 256 < 1024), lists show as JSON."""
    results = [_run(_config({"method.batch_size": size}, run_dir=f"b{size}"), 47.0) for size in (1024, 64, 256)]
    results.append(_run(_config({"method.batch_size": 256, "method.drops": [30, 15]}, run_dir="d"), 47.0))
    results.append(_run(_config({"epochs": 200}, run_dir="e"), 47.0))  # also trainer.max_epochs
    rows = build_rows(results)
    assert [row.settings for row in rows] == [  # by epochs (200 < 1000), then batch size, then drops
        {"epochs": "200", "method.batch_size": "256", "method.drops": "[50, 25]"},
        {"epochs": "1000", "method.batch_size": "64", "method.drops": "[50, 25]"},
        {"epochs": "1000", "method.batch_size": "256", "method.drops": "[30, 15]"},
        {"epochs": "1000", "method.batch_size": "256", "method.drops": "[50, 25]"},
        {"epochs": "1000", "method.batch_size": "1024", "method.drops": "[50, 25]"},
    ]
    assert _table_rows(markdown_table(rows))[0] == (
        "| method | dataset | epochs | method.batch_size | method.drops | runs | linear top-1 | paper | Δ "
        "| 5-NN top-1 | paper | Δ |")


def test_setting_columns_per_method_and_added_keys():
    """Columns come from the runs of one (method, dataset): another row shows – there. A key only
    one run has (``+method.extra=1``) is a difference; 256 and 256.0 are one value."""
    cw = [_run(_config({"method.whiten": w}, run_dir=w), 47.0) for w in ("zca", "cholesky")]
    w_mse = [_run(_config({"method.name": "w_mse2", "method.whiten": "cholesky", "method.lr": lr}, run_dir=str(lr)),
                  47.0, method="w_mse2") for lr in (1e-3, 2e-3)]
    table = markdown_table(build_rows(cw + w_mse))
    assert _table_rows(table)[2:] == [
        "| cw_rgp4 | cifar10 | – | cholesky | 1 | – | 92.47 | – | 47.00 | 90.74 | -43.74 |",
        "| cw_rgp4 | cifar10 | – | zca | 1 | – | 92.47 | – | 47.00 | 90.74 | -43.74 |",
        "| w_mse2 | cifar10 | 0.001 | – | 1 | – | 91.55† | – | 47.00 | 89.69† | -42.69 |",
        "| w_mse2 | cifar10 | 0.002 | – | 1 | – | 91.55† | – | 47.00 | 89.69† | -42.69 |"]
    assert _table_rows(table)[0].startswith("| method | dataset | method.lr | method.whiten | runs |")
    extra = [_run(_config(run_dir="a"), 47.0), _run(_config({"method.extra": 1}, run_dir="b"), 48.0)]
    assert [row.settings for row in build_rows(extra)] == [{"method.extra": "1"}, {}]
    same = [_run(_config({"method.batch_size": 256}, run_dir="a"), 47.0),
            _run(_config({"method.batch_size": 256.0}, run_dir="b"), 48.0)]
    assert [row.runs for row in build_rows(same)] == [2]


def test_imagenet_epochs_rows_have_no_epochs_column():
    """ImageNet rows are already split by pretraining epochs: epochs is not a setting column there."""
    results = [_run(_config({"epochs": epochs, "dataset.name": "imagenet"}, run_dir=str(epochs)), 50.0,
                    dataset="imagenet") for epochs in (100, 200)]
    rows = build_rows(results)
    assert [(row.label, row.settings) for row in rows] == [("imagenet (100 ep)", {}), ("imagenet (200 ep)", {})]


def test_flatten_settings():
    assert flatten_settings({"method": {"whiten": "zca", "drops": [50, 25]}, "dataset": {"options": {}}, "seed": 1}) \
        == {"method.whiten": "zca", "method.drops": "[50, 25]", "seed": 1}


def test_curves_keep_every_seed_of_a_setting_apart():
    """The table averages seeds; the curves of ``--plots`` draw each run, labelled by its settings and, where
    two runs share them, by its folder."""
    from whitening_ssl.report import curves

    results = []
    for whiten in ("zca", "pca"):
        for seed in (1, 2):
            run_dir = f"multirun/{whiten}_{seed}/{whiten}_seed{seed}"
            result = _run(_config({"method.whiten": whiten}, seed=seed, run_dir=run_dir), 40.0 + seed,
                          path=f"{run_dir}/results.json")
            result["history"] = [{"epoch": 1, "knn_top1": 10.0 * seed + (whiten == "pca")}]
            results.append(result)
    results.append({**results[0], "_path": "other/results.json", "config": _config({"method.whiten": "bn"}),
                    "history": [{"epoch": 1, "knn_top1": 5.0}]})
    assert curves(results, "knn_top1") == {
        "method.whiten=zca (zca_seed1)": [(1.0, 10.0)], "method.whiten=zca (zca_seed2)": [(1.0, 20.0)],
        "method.whiten=pca (pca_seed1)": [(1.0, 11.0)], "method.whiten=pca (pca_seed2)": [(1.0, 21.0)],
        "method.whiten=bn": [(1.0, 5.0)]}
