"""SAM2: the model registry, the window plan, the image encoder job, the feature store, the decoder."""
