"""Restoration at the receiver: play-out order and A/V timing now; interpolation and
smoothing (paper eq 10) with the generative issue."""
