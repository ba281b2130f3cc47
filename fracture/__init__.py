"""Fracture classification on radiographs: the library behind the DVC stages."""

__version__ = "0.4.0"
