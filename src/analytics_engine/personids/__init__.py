"""Dense per-tenant person ids (allocator.py) and the per-hour person bitmaps built on them (hours.py)."""
