"""One radiograph: reading any supported file as 8-bit grey, screening it, the enhancement filters, image-quality
scores, and what a model sees (`preprocessing`)."""
