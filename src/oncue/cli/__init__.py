"""The ``oncue`` command line."""
