"""The examples in every module's docstrings run and print what they show."""
import doctest
import importlib
import pkgutil

import pytest

import nwb_biornn

MODULES = sorted(info.name for info in pkgutil.walk_packages(nwb_biornn.__path__, "nwb_biornn.")
                 if not info.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
