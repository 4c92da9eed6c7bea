"""The team workflow: annotations and their versions, review states, comments, areas, dashboard, vector import."""
