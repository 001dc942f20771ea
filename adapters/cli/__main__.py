"""`python -m adapters.cli` runs `ecps`."""

from adapters.cli import main

main()
