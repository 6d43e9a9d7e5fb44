"""Measuring models: image-quality metrics and evaluation runs."""
