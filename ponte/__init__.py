"""Ponte: the command line and the few pieces hub and node share (data dir, problem bodies)."""
