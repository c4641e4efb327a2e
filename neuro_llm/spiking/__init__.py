"""Spike codes, the layers they drive (linear, attention) and the observers that watch them."""
