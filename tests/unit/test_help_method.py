"""``python run.py method=NAME --help`` lists every ``method.*`` setting ``--cfg job`` shows, with a meaning;
the defaults and meanings read from the source (no torch) equal the imported code's."""

import pytest
from helpers import CONF, compose_config
from omegaconf import OmegaConf
from torch_free import run_py_torch_free

from whitening_ssl.cli.help import help_page
from whitening_ssl.losses import LOSSES, WhiteningMSELoss, loss_defaults
from whitening_ssl.methods import METHODS
from whitening_ssl.settings.methods import FAMILY_DEFAULTS, whitening_defaults
from whitening_ssl.settings.methods import loss_defaults as source_loss_defaults
from whitening_ssl.whitening import Whitening

PRESETS = sorted(path.stem for path in (CONF / "method").glob("*.yaml"))


def _keys(node, prefix="method"):
    for key, value in node.items():
        yield from _keys(value, f"{prefix}.{key}") if isinstance(value, dict) else [f"{prefix}.{key}"]


@pytest.mark.parametrize("preset", PRESETS)
def test_help_lists_every_setting_of_the_method(preset):
    root = compose_config([f"method={preset}"], with_hydra=True)
    page = help_page(root)
    listed = {line.split()[0] for line in page.split("Method settings")[1].splitlines() if line.startswith("  method.")}
    job = OmegaConf.to_container(root.method, resolve=False)  # what --cfg job prints under method:
    assert set(_keys(job)) == listed
    assert f"Method settings (method={preset}, family {job['family']};" in page


def test_intl_help_shows_its_settings_and_the_shrinkage():
    page = help_page(compose_config(["method=intl"], with_hydra=True))
    text = " ".join(page.split())
    assert "W-MSE, CW-RGP, INTL" in page.splitlines()[0]
    for expected in (
        "method.whiten = iternorm",
        "method.iters = 4 whiten=iternorm: the Newton iterations",
        "method.trade_off = auto the trace loss's weight",
        "method.eps = 0.0 shrinkage toward the identity, S <- (1 - eps) S + eps I",
        "a shrinkage ZCA is method.whiten=zca method.eps=0.1",
    ):
        assert expected in text


def test_the_source_read_defaults_are_the_code_s():
    """The configuration's nodes (read from the source, no import) equal the signatures, registries and
    class constants of the imported code."""
    assert whitening_defaults() == Whitening.default_settings()
    assert source_loss_defaults() == {name: loss_defaults(cls) for name, cls in LOSSES.items()}
    assert set(FAMILY_DEFAULTS) <= set(METHODS)
    for family, defaults in FAMILY_DEFAULTS.items():
        own = METHODS[family].OWN_SETTINGS
        assert {key: defaults()[key] for key in own} == own
    assert FAMILY_DEFAULTS["whitening_mse"]() == {
        "family": "whitening_mse",
        **Whitening.default_settings(),
        "w_size": "???",
        **WhiteningMSELoss.default_settings(),
        **METHODS["whitening_mse"].OWN_SETTINGS,
    }


def test_help_imports_no_heavy_module():
    assert "INTL" in run_py_torch_free("method=intl", "--help")
