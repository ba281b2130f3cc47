"""Reading radiographs, enhancement filters and image-quality scores."""
