"""The tenant's taxonomy (issue 25): event names and property keys with their types, volumes and
first and last seen, editable descriptions, tags, verified and hidden flags, and ingestion warnings.
docs/taxonomy.md."""
