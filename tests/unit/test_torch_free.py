"""What must start without torch: the lazy package namespaces (whitening_ssl.lazy)."""

from torch_free import json_torch_free


def test_the_package_and_its_public_names_import_nothing_heavy():
    names = json_torch_free(
        """
        import json, whitening_ssl
        print(json.dumps(whitening_ssl.__all__))
        """
    )
    assert "Whitening" in names and "WhiteningMSELoss" in names
