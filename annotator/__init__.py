"""The Geoprompt Django app: projects, imagery, SAM2 features, annotations."""
