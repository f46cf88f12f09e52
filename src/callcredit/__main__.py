"""``python -m callcredit`` runs the command line."""

from callcredit.entrypoints.cli.main import run

run()
