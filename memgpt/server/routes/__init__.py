"""The route modules; each exposes ``router``."""
