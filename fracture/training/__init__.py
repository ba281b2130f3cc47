"""Training: augmented batches, the epoch loop, resuming a stopped run, data-parallel processes, the run's
outcome (thresholds frozen on validation) and its metadata for the checkpoint."""
