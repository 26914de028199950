"""docs/extending.md's own method preset: the file in examples/ is the one the page shows, and it composes."""

from helpers import ROOT, compose_config

PRESET = ROOT / "examples" / "conf" / "method" / "my_method.yaml"


def test_the_documented_preset_is_the_example_file():
    page = (ROOT / "docs" / "extending.md").read_text()
    assert f"```yaml\n{PRESET.read_text()}```" in page


def test_the_own_preset_composes_with_the_family_defaults():
    cfg = compose_config([f"hydra.searchpath=[file://{PRESET.parents[1]}]", "method=my_method"])
    method = cfg.method
    assert (method.name, method.family, method.whiten, method.axis, method.groups, method.eps) == (
        "my_method",
        "whitening_mse",
        "zca",
        "channel",
        2,
        0.1,
    )
    assert (method.solver, method.w_iter, method.lr, method.emb) == ("eigh", 1, 3.0e-3, 512)  # _defaults, _shared
    assert (cfg.data.batch_size, cfg.data.num_views) == (256, 2)
