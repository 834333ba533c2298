"""Scores of Signals-style submissions (being split into modules; see ``batch``)."""

from metasignal.signals.scoring.batch import *  # noqa: F401,F403
from metasignal.signals.scoring.batch import __all__  # noqa: F401
