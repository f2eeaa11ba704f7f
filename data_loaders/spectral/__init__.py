"""Spectral models of X-ray sources: photoabsorption, EPIC responses, the five-band power-law fit."""
