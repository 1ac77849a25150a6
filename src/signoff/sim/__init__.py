"""Simulated applicants and example projects that drive the real engine."""
