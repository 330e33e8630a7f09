"""The judge: how the two answers compare (grounding: ground.py) and what people said
(statistics: stats.py)."""

from .ground import Grounding, ground, ground_record, load_model

__all__ = ["Grounding", "ground", "ground_record", "load_model"]
