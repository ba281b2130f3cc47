"""Using a trained model: loading its checkpoint, the device, and its probabilities with or without test-time
augmentation. Evaluation, prediction, explanation and export use this package; none of them imports training."""
