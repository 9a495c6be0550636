"""The fixes: one module per check it repairs, with the same name and id. Registered here."""
from remediations import selinux

REMEDIATIONS = (
    selinux.SelinuxFix,
)
