import sys

from ._startup import guard

with guard():  # Ctrl-C while edgepower's command line is imported: one line, exit 130 (_startup.py)
    from .cli import main

sys.exit(main())
