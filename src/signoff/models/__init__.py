"""Layer 2: model adapters. Any model that gives class probabilities for a table of cases."""

from __future__ import annotations

from signoff.models.adapters import LoadedModel, Scores, load_model
from signoff.models.outputs import distribution_problems

__all__ = ["LoadedModel", "Scores", "distribution_problems", "load_model"]
