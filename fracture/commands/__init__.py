"""The command line's own work: `python -m fracture predict` over files, folders and labels.csv."""
