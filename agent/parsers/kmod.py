"""The module lists depmod and the kernel build write: modules.dep and modules.builtin.

Read from an installed kernel's /lib/modules/<version> (agent.facts.kernels) and from the
modules.dep inside an initramfs (agent.facts.initramfs), which lists what modprobe can load
from that image.
"""
import re

from agent.parsers import LazyPattern

# The file name of a module path at the start of a line (modules.builtin, or modules.dep
# before its colon), without .ko and a compression suffix. One search over the whole text
# instead of a Python loop over its lines: a distribution kernel's modules.dep has thousands.
_MODULE_PATH = LazyPattern(r"^[ \t\r]*(?:[^:\n]*/)?([^/:\n]*?)\.ko(?:\.xz|\.zst|\.gz)?[ \t\r]*(?::|$)", re.M)


def module_names(text):
    """Module names a modules.dep (its keys) or modules.builtin lists, '-' read as '_'."""
    return set(name.replace("-", "_") for name in _MODULE_PATH.findall(text) if name)
