"""Measuring a model: metrics, thresholds, intervals, subgroups, shortcuts, localisation and outside sets."""
