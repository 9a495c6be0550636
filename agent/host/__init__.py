"""What runs on the operator's machine, not in the guest: boot-test, fleet merge."""
