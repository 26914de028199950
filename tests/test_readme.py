"""The documentation's tables of published numbers are the numbers the report compares against."""

import re

import pytest

from whitening_ssl.paper_results import PAPER_DATASETS, PAPER_IMAGENET, PAPER_RESULTS

from helpers import ROOT

README = (ROOT / "docs" / "reproduce.md").read_text()  # the presets' table of published numbers


def _preset_rows():
    rows = {}
    for line in README.splitlines():
        match = re.match(r"\| `paper/<dataset>_(\w+)` \|(.*)\|$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def test_small_dataset_table_equals_paper_results():
    rows = _preset_rows()
    assert set(rows) == {"cw_rgp4", "cw_rgp2", "w_mse4", "w_mse2"}
    for method, cells in rows.items():
        assert len(cells) == len(PAPER_DATASETS)
        for dataset, cell in zip(PAPER_DATASETS, cells):
            entry = PAPER_RESULTS.get((method, dataset))
            if entry is None:
                assert cell == "–", (method, dataset)
                continue
            expected = f"{entry['linear_top1']:.2f} / {entry['knn_top1']:.2f}" + (" †" if entry["source"] == "copy" else "")
            assert cell == expected, (method, dataset)


@pytest.mark.parametrize("epochs", sorted(PAPER_IMAGENET))
def test_imagenet_table_equals_paper_results(epochs):
    match = re.search(rf"\| `paper/imagenet_cw_rgp4_{epochs}ep` \|[^|]*\| ([\d.]+) \|", README)
    assert match and float(match.group(1)) == PAPER_IMAGENET[epochs]


def test_gitignore_ignores_no_tracked_file():
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "ls-files", "-ci", "--exclude-standard"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    assert ignored == []
