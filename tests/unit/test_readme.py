"""The documentation's tables of published numbers are the numbers the report compares against."""

import re

import pytest

from whitening_ssl.paper_results import PAPER_DATASETS, PAPER_IMAGENET, PAPER_RESULTS

from helpers import ROOT

README = (ROOT / "docs" / "reproduce.md").read_text()  # the presets' table of published numbers


def _preset_rows():
    rows = {}
    for line in README.splitlines():
        match = re.match(r"\| `paper/<dataset>_(\w+)` \|(.*)\|$", line) or \
            re.match(r"\| `paper_intl/<dataset>` \(`(\w+)`\) \|(.*)\|$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def test_small_dataset_table_equals_paper_results():
    rows = _preset_rows()
    presets = {path.stem[len(dataset) + 1:] for path in (ROOT / "conf" / "experiment" / "paper").glob("*.yaml")
               for dataset in PAPER_DATASETS if path.stem.startswith(dataset + "_")}
    assert set(rows) == presets | {"intl"}  # a row for every method with small-dataset presets
    for method, cells in rows.items():
        assert len(cells) == len(PAPER_DATASETS)
        for dataset, cell in zip(PAPER_DATASETS, cells):
            entry = PAPER_RESULTS.get((method, dataset))
            if entry is None:
                assert cell == "–", (method, dataset)
                continue
            expected = f"{entry['linear_top1']:.2f} / {entry['knn_top1']:.2f}" + (" †" if entry["source"] == "copy" else "")
            assert cell == expected, (method, dataset)


def test_imagenet_table_equals_paper_results():
    """Every ImageNet row names a preset; composed, its method and epochs give the figure of the row."""
    from helpers import compose_config

    found = {}
    for preset, figure in re.findall(r"\| `(paper\w*/imagenet\w*)` \|[^|]*\| ([\d.]+) \|", README):
        cfg = compose_config([f"experiment={preset}", "dataset.root=/data/images"])
        found[(cfg.method.name, cfg.epochs)] = float(figure)
    assert found == {(method, epochs): figure for method, by_epochs in PAPER_IMAGENET.items()
                     for epochs, figure in by_epochs.items()}


def test_gitignore_ignores_no_tracked_file():
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "ls-files", "-ci", "--exclude-standard"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    assert ignored == []
