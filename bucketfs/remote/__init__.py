"""remote layer (see bucketfs/__init__.py for the layering)."""
