"""Helpers (plain functions and constants, no fixtures) shared by the test folders."""
