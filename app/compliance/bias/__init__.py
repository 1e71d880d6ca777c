"""Bias detection (healthcare tier): counterfactual probing of a model and passive monitoring of
production decisions, both tested with scipy and corrected for multiple comparisons per run."""
