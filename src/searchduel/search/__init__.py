"""Search providers: a SearchProvider protocol, implementations, and the provider chain."""
