"""python -m agent (also the zipapp entry point)."""
from agent.output.cli import main_exit

if __name__ == "__main__":
    main_exit()
