"""The judge: which sentences of an answer the search column's sources back (see ground.py)."""

from .ground import Grounding, ground, ground_record, load_model

__all__ = ["Grounding", "ground", "ground_record", "load_model"]
