"""Persons: first/last seen and the latest properties per distinct_id, kept by the warehouse."""
