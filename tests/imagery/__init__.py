"""Imagery: upload, ingest, COG, statistics, tiles and tile tokens."""
