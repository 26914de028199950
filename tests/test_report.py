"""The reproduction table (python -m whitening_ssl.report): reading, merging, rendering, CLI."""

import json
import runpy
import sys
from pathlib import Path

import pytest

from whitening_ssl.paper_results import PAPER_IMAGENET, PAPER_RESULTS, paper_numbers
from whitening_ssl.report import build_rows, collect_results, main, markdown_table

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
