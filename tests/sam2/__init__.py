"""SAM2: the window plan, the encode job and its worker, the feature store, the decoder."""
