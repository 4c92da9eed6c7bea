"""Measured quality: model evaluation on a project's own labels, annotator agreement, building regularisation."""
