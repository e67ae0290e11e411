"""Errors that reach the user as one line: the whole project's.

``HptError`` is the one base of every user-facing error of ``hpt_data``, ``hpt_model``
(:mod:`hpt_model.errors`) and ``pipelines``; the ``hpt-data``, ``hpt-model`` and ``hpt``
commands catch it, and only it. Its subclasses carry a message meant to be printed as is:
it names the file (and line, where there is one) and what is wrong. Anything else that
escapes is a bug and is reported with its traceback.
"""

from __future__ import annotations


class HptError(Exception):
    """A user-facing error: bad input, a missing file, a malformed config."""


class ConfigError(HptError):
    """``datasets.yaml`` (or another config file) is malformed."""


class SourceError(HptError):
    """A video source cannot list or produce its videos."""


class StageError(HptError):
    """A stage cannot process one video; recorded in that video's status, the run goes on."""
