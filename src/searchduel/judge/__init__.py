"""The judge: how the two answers compare (grounding) and what people said (statistics)."""
