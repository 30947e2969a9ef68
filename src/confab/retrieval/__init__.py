"""Persona-conditioned response retrieval (Mazaré et al. 2018, sections 4-5)."""
