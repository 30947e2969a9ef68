"""PLATO-2 generative models: the unified transformer, its three training stages, decoding and ranking."""
