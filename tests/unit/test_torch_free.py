"""What must start without torch: the lazy package namespaces (whitening_ssl.lazy)."""

from torch_free import json_torch_free, run_py_torch_free


def test_the_package_and_its_public_names_import_nothing_heavy():
    names = json_torch_free(
        """
        import json, whitening_ssl
        print(json.dumps(whitening_ssl.__all__))
        """
    )
    assert "Whitening" in names and "WhiteningMSELoss" in names


def test_the_pre_run_check_imports_nothing_heavy():
    """``check=true`` (and the checks of every run) read the configuration without torch, Lightning or timm."""
    out = run_py_torch_free("check=true", "experiment=quickstart")
    assert "checked: no problem found" in out and "(present)" in out
    out = run_py_torch_free("check=true", "dataset=synthetic", "method.groups=3", returncode=2)
    assert "error: method.emb=" in out and "method.groups=3" in out


def test_a_sweeps_checks_import_nothing_heavy():
    out = run_py_torch_free("-m", "check=true", "dataset=synthetic", "method=w_mse4,intl")
    assert "checked: no problem found in the 2 job(s) of the sweep" in out
