"""Specs: reading, composing and validating the YAML that drives a run."""

from framework.spec.model import ComponentSpec, Spec, Threshold
from framework.spec.validate import load_spec

__all__ = ["ComponentSpec", "Spec", "Threshold", "load_spec"]
