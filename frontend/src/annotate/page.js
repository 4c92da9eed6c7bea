// What the annotate page's HTML tells the script: ids, the user's project role, limits.
export const root = document.getElementById("map");
export const imageId = Number(root.dataset.imageId);
export const projectId = Number(root.dataset.projectId);
// The project role decides only whether the user may start new annotations; what they may
// do with an existing one comes from the API (its ``allowed_actions``).
export const canCreate = ["owner", "reviewer", "annotator"].includes(root.dataset.role);
// The server simplifies a segment outline until it fits this many vertices (null: no limit).
export const MAX_VERTICES = Number(root.dataset.maxVertices) || null;
// The annotation to open selected (?annotation=ID), e.g. from the review page's Edit.
export const focusId = Number(new URLSearchParams(location.search).get("annotation")) || null;

export const $ = (id) => document.getElementById(id);
