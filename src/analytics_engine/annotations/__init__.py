"""Annotations: notes on a date or a range, tenant-wide or on one dashboard (docs/annotations.md),
kept in the metadata database (revision 1810_annotations_embeds) and drawn on time charts."""
