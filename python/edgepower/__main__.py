import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while edgepower itself is imported: one line, no traceback
    print("edgepower: interrupted (Ctrl-C) during start-up: nothing was measured or written", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
