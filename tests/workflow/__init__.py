"""The team workflow: annotations, permissions, review, comments, dashboard, vector import."""
