"""Click-to-polygon: the segment endpoint, its errors, and the mask outline."""
