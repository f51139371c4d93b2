"""The node's revisions, oldest first: ``node_0001_...``, ``node_0002_...``."""
