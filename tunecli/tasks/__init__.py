"""Restoration tasks: what each task's alpha means and how its training pairs are made."""
