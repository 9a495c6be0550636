"""guestprep: prepare a Linux VM (or a mounted image root) for import into Alibaba Cloud ECS."""

__version__ = "0.1.0"
