"""Training: data on tensors, batched augmentation, the epoch loop, checkpoints."""
