"""Drafts at scale: "segment everything" and "find similar" on the cached SAM2 features.

A run (a ``DraftRun`` row and its ``drafts`` Job, queue ``encode``) walks the image's
stored encoder windows, finest level first, and never calls the image encoder:

- :mod:`grid`: point prompts per window (SAM2's point grid, restricted to the area and
  to valid pixels);
- :mod:`similar`: for "find similar", a prototype of the example polygons' embedding
  cells, cosine similarity over each window's cells and its peaks as point prompts;
- :mod:`filters`: the prompts through SAM2's prompt encoder and mask decoder in batches,
  then SAM2's own filters (predicted IoU, stability score, m2m, box NMS per window);
- :mod:`merge`: the window's masks as polygons in level-0 image pixels, merged with what
  earlier windows kept (SAM's crop-edge rule, duplicates across windows and levels by mask
  overlap in image space);
- :mod:`params`: the run's parameters, bounded; :mod:`runs`: the service and job runner.
"""
