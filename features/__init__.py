"""cartrisk: features."""
