"""A data set: folders, the manifest, sources, annotations and covariates, and the filter, split and enhance logic."""
