"""A tiny training program used by the basic example."""
