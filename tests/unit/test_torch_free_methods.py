"""The pre-run check of method.* runs without torch for every built-in family, and says what the classes say.

One subprocess (where torch, Lightning and timm cannot be imported) checks every preset of conf/method/ and a
set of bad settings with ``check_method_settings``; this process computes the same cases through the classes
(``get_method(family).check_config`` and ``check_extras``, what the pre-run check called before) and compares.
"""

import json

import pytest
from helpers import CONF
from omegaconf import OmegaConf
from torch_free import json_torch_free

from whitening_ssl.methods import METHODS, PretrainModule, get_method
from whitening_ssl.methods.family_checks import FAMILY_RULES
from whitening_ssl.plugins import LookupFailed
from whitening_ssl.validation import Checks

PRESETS = sorted(path.stem for path in (CONF / "method").glob("*.yaml"))
FEATURE_DIM = 64
#: (preset, overrides, a piece of the line it must give)
BAD = [
    ("w_mse4", ["method.whiten=bogus"], "method.whiten='bogus' is not available"),
    ("cw_rgp4", ["method.groups=3"], "method.emb=512 is not divisible by method.groups=3"),
    ("w_mse4", ["method.w_size=32"], "batch whitening needs method.w_size > method.emb / method.groups"),
    ("w_mse4", ["method.iters=7"], "method.iters=7 applies to method.whiten=iternorm only"),
    ("cw_rgp4", ["method.solver=qr"], "method.solver='qr' is not available"),
    ("intl", ["method.trade_off=-1"], "method.trade_off=-1 must be a number >= 0"),
    ("resa", ["method.temperature=0", "method.sinkhorn_iters=0"], "method.temperature=0 must be a positive number"),
    ("lejepa", ["method.lam=2", "method.centre=middle"], "method.lam=2.0 must be at most 1"),
    ("w_mse4", ["method.family=nonexistent"], "method.family='nonexistent' is not available"),
    ("simclr", ["+method.loss.temprature=0.5"], "got an unexpected keyword argument 'temprature'"),
    ("simclr", ["method.loss.temperature=-1"], "temperature must be positive, got -1"),
    ("barlow_twins", ["method.loss.scale=bogus"], "unknown Barlow Twins scale 'bogus'"),
    ("simclr", ["method.loss.name=bogus"], "method.loss.name='bogus' is not available"),
    ("byol", ["method.optimizer=bogus", "method.schedule=bogus", "method.head_activation=bogus"], "method.optimizer"),
    ("w_mse4", ["method.feature_whitening=zca", "data.batch_size=32", "method.w_size=16", "method.emb=8"], "singular"),
    ("simsiam", ["method.feature_whitening=bogus"], "method.feature_whitening='bogus' is not available"),
    ("vicreg", ["method.sigreg_weight=0.1", "method.sigreg_knots=4"], "sigreg_knots=4 must be an odd"),
]


def _class_lines(config):
    """What the classes record for the configuration ``config`` (the pre-run check's path before it was
    torch-free)."""
    cfg = OmegaConf.create(config)
    checks = Checks(check_machine=False)
    family = checks.get(cfg.method, "family", "method.family")
    try:
        method_class = get_method(family)
    except LookupFailed as error:
        checks.add(str(error))
        return checks.problems
    method_class.check_config(checks, cfg.method, cfg.data)
    method_class.check_extras(checks, cfg.method, cfg.data, FEATURE_DIM)
    return checks.problems


@pytest.fixture(scope="module")
def torch_free_lines():
    """``{json of (preset, overrides): (lines, the composed configuration)}`` from check_method_settings where
    torch cannot be imported."""
    cases = [(preset, []) for preset in PRESETS] + [(preset, extra) for preset, extra, _ in BAD]
    return json_torch_free(
        f"""
        import json
        from helpers import TINY, compose_config
        from omegaconf import OmegaConf
        from whitening_ssl.methods.method_checks import check_method_settings
        from whitening_ssl.validation import Checks
        found = {{}}
        for preset, extra in {cases!r}:
            cfg = compose_config(TINY + [f"method={{preset}}", *extra])
            checks = Checks(check_machine=False)
            check_method_settings(checks, cfg.method, cfg.data, {FEATURE_DIM})
            found[json.dumps([preset, extra])] = checks.problems, {{key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("method", "data")}}
        print(json.dumps(found))
        """
    )


def test_every_preset_is_checked_torch_free_and_has_no_problem(torch_free_lines):
    assert PRESETS
    for preset in PRESETS:
        lines, config = torch_free_lines[json.dumps([preset, []])]
        assert lines == [] == _class_lines(config), preset


@pytest.mark.parametrize(("preset", "extra", "piece"), BAD, ids=[" ".join(extra) for _, extra, _ in BAD])
def test_bad_settings_give_the_classes_lines_torch_free(torch_free_lines, preset, extra, piece):
    lines, config = torch_free_lines[json.dumps([preset, extra])]
    assert lines == _class_lines(config)
    assert any(piece in line for line in lines), lines


def test_every_family_with_rules_of_its_own_has_them_in_family_rules():
    """A built-in family whose class adds to check_config has its rules in FAMILY_RULES (the torch-free check)."""
    base = PretrainModule.check_config.__func__  # type: ignore[attr-defined]
    for family, cls in METHODS.items():
        assert (cls.check_config.__func__ is not base) == (family in FAMILY_RULES), family  # type: ignore[attr-defined]
    assert set(FAMILY_RULES) <= set(METHODS)


def test_what_the_check_reads_from_the_source_is_what_the_registries_hold():
    from whitening_ssl.losses import LOSSES
    from whitening_ssl.losses.loss_rules import LOSS_RULES, loss_names
    from whitening_ssl.models import ACTIVATIONS
    from whitening_ssl.optim import OPTIMIZERS
    from whitening_ssl.schedules import SCHEDULES
    from whitening_ssl.settings import source
    from whitening_ssl.whitening import WHITENINGS
    from whitening_ssl.whitening.kind_checks import builtin_kinds
    from whitening_ssl.whitening.layer import RUNNING_MATRICES
    from whitening_ssl.whitening.settings_checks import running_kinds

    described = {
        name: (k.name, k.settings, k.uses_covariance, k.full_rank, k.check, k.check_shape)
        for name, k in builtin_kinds().items()
    }
    assert described == {
        name: (k.name, k.settings, k.uses_covariance, k.full_rank, k.check, k.check_shape)
        for name, k in WHITENINGS.items()
    }
    assert list(builtin_kinds()) == list(WHITENINGS)
    assert running_kinds() == tuple(RUNNING_MATRICES)
    assert loss_names() == tuple(LOSSES) and set(LOSS_RULES) <= set(LOSSES)
    assert source.keys("models.heads", "ACTIVATIONS") == tuple(ACTIVATIONS)
    assert source.keys("optim", "OPTIMIZERS") == tuple(OPTIMIZERS)
    assert source.keys("schedules", "SCHEDULES") == tuple(SCHEDULES)
    assert tuple(source.registry("methods.registry", "METHODS")) == tuple(METHODS)
