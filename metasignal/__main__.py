"""``python -m metasignal`` runs the command line."""

from metasignal.cli import main

main()
