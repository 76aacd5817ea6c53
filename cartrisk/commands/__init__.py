"""Command groups of the ``cartrisk`` CLI; each module has ``register(app)``."""
