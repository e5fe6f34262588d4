"""Colab's half of every notebook's first cell: install the course, make it importable, open it.

The cell clones the course and imports this module, only on Google Colab. It installs exactly the
pins of requirements.txt with tools/install.sh (LightFM compiled with LIGHTFM_NO_CFLAGS=1), except
the tools Colab already has its own of: JupyterLab and the test runners.
"""

import os
import subprocess
import sys
from importlib.metadata import version

COURSE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Colab keeps its own Jupyter server and kernel: replacing them would break the runtime.
NOT_ON_COLAB = "jupyterlab nbval pytest pyyaml playwright"

subprocess.run(["sh", os.path.join(COURSE, "tools", "install.sh"), sys.executable],
               env={**os.environ, "COURSE_SKIP": NOT_ON_COLAB}, check=True)
# The editable install is seen by new interpreters only; this one gets the folder directly.
sys.path.insert(0, COURSE)
os.chdir(os.path.join(COURSE, "notebooks"))

# Colab starts with its own numpy/pandas already imported; a module loaded before the upgrade
# stays the old version until the runtime restarts.
stale = [name for name in ("numpy", "pandas", "scipy", "matplotlib")
         if name in sys.modules and sys.modules[name].__version__ != version(name)]
if stale:
    print(f"Colab had older {', '.join(stale)} loaded: choose Runtime → Restart session, "
          "then run this notebook again (the install is kept).")
else:
    print(f"Course installed in {COURSE}; working folder {os.getcwd()}")
