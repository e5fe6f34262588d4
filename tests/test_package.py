"""The package re-exports every public name of every module, each from exactly one module."""

import subprocess
import sys
from collections import Counter

import helpers


def test_every_public_name_is_reexported_once():
    counts = Counter(helpers.__all__)
    assert not [name for name, n in counts.items() if n > 1], "a public name is defined in two modules"
    for module in helpers.MODULES:
        for name in module.__all__:
            assert getattr(helpers, name) is getattr(module, name), f"helpers.{name} is not {module.__name__}.{name}"


def test_importing_helpers_does_not_load_pyplot():
    code = "import sys, helpers; print('matplotlib.pyplot' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
