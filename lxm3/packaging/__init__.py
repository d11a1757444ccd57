"""Turns executable specs into deployable, content-addressed artifacts."""
