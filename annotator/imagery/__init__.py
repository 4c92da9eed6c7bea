"""Imagery: uploads, raster ingest (validation, statistics, COG, footprint) and tile tokens."""
