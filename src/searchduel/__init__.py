"""Search Duel: one prompt, the same model twice, with and without web search."""

__version__ = "0.1.0"
