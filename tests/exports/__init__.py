"""Exports: GIS and ML formats, spatial splits, the export API."""
