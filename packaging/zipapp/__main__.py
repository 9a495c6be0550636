"""guestprep.pyz's entry point: load the code compiled once per Python version from the
cache outside the archive (agent/core/pyzcache.py), then run guestprep as the console
script does."""
import os

from agent.core import pyzcache

pyzcache.install(os.path.dirname(os.path.abspath(__file__)))

from agent.output.cli import main_exit  # noqa: E402 -- after the cache is in place

main_exit()
