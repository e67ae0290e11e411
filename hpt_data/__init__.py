"""hpt_data: turn videos of people into pose-transfer training data.

The package is layered (see ``docs/architecture.md``): ``body`` and ``render`` are
libraries, ``sources`` yield videos, ``stages`` are pure per-video units, the
``orchestrator`` runs stages through an ``executors`` backend, and ``cli`` is a thin
Typer front end. Heavy dependencies (mediapipe, pyrender, anny) are imported inside the
functions that need them so that ``hpt-data --help`` stays fast.
"""

__version__ = "0.1.0"
