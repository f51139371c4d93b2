"""The hub's revisions, oldest first: ``hub_0001_...``, ``hub_0002_...``."""
