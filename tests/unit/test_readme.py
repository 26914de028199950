"""The documentation's tables of published numbers are the numbers the report compares against."""

import re

import pytest
from helpers import ROOT

from whitening_ssl.paper_results import (
    PAPER_DATASETS,
    PAPER_IMAGENET,
    PAPER_IMAGENET_VIT,
    PAPER_RESULTS,
    RESNET50,
    VIT_S16,
)

README = (ROOT / "docs" / "reproduce.md").read_text()  # the presets' table of published numbers


def _preset_rows():
    rows = {}
    for line in README.splitlines():
        match = re.match(r"\| `paper/<dataset>_(\w+)` \|(.*)\|$", line) or re.match(
            r"\| `paper_intl/<dataset>` \(`(\w+)`\) \|(.*)\|$", line
        )
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def test_small_dataset_table_equals_paper_results():
    rows = _preset_rows()
    presets = {
        path.stem[len(dataset) + 1 :]
        for path in (ROOT / "conf" / "experiment" / "paper").glob("*.yaml")
        for dataset in PAPER_DATASETS
        if path.stem.startswith(dataset + "_")
    }
    assert set(rows) == presets | {"intl"}  # a row for every method with small-dataset presets
    for method, cells in rows.items():
        assert len(cells) == len(PAPER_DATASETS)
        for dataset, cell in zip(PAPER_DATASETS, cells):
            entry = PAPER_RESULTS.get((method, dataset))
            if entry is None:
                assert cell == "–", (method, dataset)
                continue
            expected = f"{entry['linear_top1']:.2f} / {entry['knn_top1']:.2f}" + (
                " †" if entry["source"] == "copy" else ""
            )
            assert cell == expected, (method, dataset)


def test_imagenet_table_equals_paper_results():
    """Every ImageNet row names a preset; composed, its method and epochs give the figure of the row."""
    from helpers import compose_config

    found = {}
    for preset, figure in re.findall(r"\| `(paper\w*/imagenet\w*)` \|[^|]*\| ([\d.]+) \|", README):
        cfg = compose_config([f"experiment={preset}", "dataset.root=/data/images"])
        found[(cfg.method.name, cfg.epochs, cfg.backbone.name)] = float(figure)
    assert found == {
        **{
            (method, epochs, RESNET50): figure
            for method, by_epochs in PAPER_IMAGENET.items()
            for epochs, figure in by_epochs.items()
        },
        **{
            (method, epochs, VIT_S16): figures[0]
            for method, by_epochs in PAPER_IMAGENET_VIT.items()
            for epochs, figures in by_epochs.items()
        },
    }


def test_gitignore_ignores_no_tracked_file():
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(
        ["git", "ls-files", "-ci", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert ignored == []


def _documented_settings(preset):
    """The ``key=value`` pairs of a debug preset's ``# Sets:`` comment (and its continuation lines)."""
    text = (ROOT / "conf" / "debug" / f"{preset}.yaml").read_text()
    sets = re.search(r"Sets: (.*?)(?:;|\.\s)", text.replace("\n# ", " "), re.S).group(1)
    return dict(pair.split("=") for pair in re.findall(r"[\w.]+=[\w.]+", sets))


@pytest.mark.parametrize("preset", sorted(path.stem for path in (ROOT / "conf" / "debug").glob("*.yaml")))
def test_the_debug_presets_compose_to_the_documented_data_and_a_named_dataset_wins(preset):
    from helpers import compose_config
    from omegaconf import OmegaConf

    settings = _documented_settings(preset)
    assert settings["dataset"] == "synthetic" and settings["backbone"] == "resnet_tiny"  # never a download
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith(f"| `debug={preset}` |"))
    cfg = compose_config([f"debug={preset}"], with_hydra=True)
    for key, value in settings.items():
        if key in cfg.hydra.runtime.choices:
            assert cfg.hydra.runtime.choices[key] == value, key
        else:
            assert str(OmegaConf.select(cfg, key)) == value, key
        assert f"{key}={value}" in row, key  # the README's table says the same
    assert cfg.dataset.download is False
    kept = compose_config([f"debug={preset}", "dataset=cifar10"])
    assert kept.dataset.name == "cifar10" and kept.backbone.name == "resnet_tiny"
