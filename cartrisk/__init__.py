"""cartrisk: cart abandonment risk and the incentive that recovers it at the least cost."""

__version__ = "0.1.0"
