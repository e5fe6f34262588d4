"""Helpers for the LightFM course: what a learner would otherwise copy between notebooks.

Every public name of every module is available here too (``helpers.load_movielens``,
``helpers.evaluate_ranking``, ...); each module's ``__all__`` decides what is public. One name is
both: after this import ``helpers.recommend`` is the function; import the module's other names with
``from helpers.recommend import ...``.
"""

import importlib

MODULES = tuple(
    importlib.import_module(f"helpers.{name}")
    for name in (
        "data", "features", "evaluate", "recommend", "coldstart", "persist", "plots", "synthetic", "distributed", "ann"
    )
)

from helpers.ann import *  # noqa: E402, F403
from helpers.coldstart import *  # noqa: E402, F403
from helpers.data import *  # noqa: E402, F403
from helpers.distributed import *  # noqa: E402, F403
from helpers.evaluate import *  # noqa: E402, F403
from helpers.features import *  # noqa: E402, F403
from helpers.persist import *  # noqa: E402, F403
from helpers.plots import *  # noqa: E402, F403
from helpers.recommend import *  # noqa: E402, F403
from helpers.synthetic import *  # noqa: E402, F403

__all__ = [name for module in MODULES for name in module.__all__]
