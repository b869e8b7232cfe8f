"""Prediction runtimes: faster, verified forms of a stored model (see :mod:`.base`)."""
