"""Click-to-polygon: prompts, window choice, prompt sessions and the mask outline."""
