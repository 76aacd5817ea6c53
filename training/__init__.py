"""cartrisk: training."""
