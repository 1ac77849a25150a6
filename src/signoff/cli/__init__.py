"""The command line edge: ``signoff``."""
