"""Jobs: one table and one status shape for every piece of long work."""
