"""cartrisk: serving."""
