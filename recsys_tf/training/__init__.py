"""Training: config, strategy, data preparation, model building, the custom loop, run directories."""
