"""``python -m signoff``: the same command line as ``signoff``."""

from signoff.cli.main import app

app(prog_name="signoff")
