"""`python -m instacap` runs the command-line tool."""

from instacap.cli import main

main()
