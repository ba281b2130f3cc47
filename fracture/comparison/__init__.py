"""`python -m fracture compare`: several DVC experiments, judged on one test set with paired statistics."""
