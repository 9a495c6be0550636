"""python -m agent (also the zipapp entry point)."""
import sys

from agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
