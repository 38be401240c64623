"""``python -m oncue.cli``: the same as the ``oncue`` command."""

from oncue.cli.main import main

main()
