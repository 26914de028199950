"""The device pipeline: views made on the training device, batched over samples (``data.pipeline=device``)."""
