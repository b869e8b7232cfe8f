"""Monitoring: reference profiles, drift tests on new data, reports and retraining.

Light on purpose: ``specops validate`` imports :mod:`framework.monitoring.spec`,
so nothing here may import pandas, NumPy or SciPy at module level.
"""
