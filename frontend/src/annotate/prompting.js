// SAM2 prompting: clicks and a dragged box on the map (EPSG:4326 degrees) go to
// POST /api/v1/images/{id}/segment; its polygon is shown as a preview that Enter accepts.
import { api, errorText, formatArea, toast } from "../common.js";
import { forget, onApply, record } from "./history.js";
import { L, map, previewLayer, promptLayer } from "./layers.js";
import { $, MAX_VERTICES, canCreate, imageId, projectId } from "./page.js";
import { state, transition } from "./state.js";
import { adopt } from "./editing.js";

// Outline simplification asked of the segment endpoint, in image pixels: fewer vertices to edit.
const SIMPLIFY_PX = 1.0;
const segmentEl = $("segment-status");
let segmentSeq = 0; // the latest request; older answers are dropped
// A click on windows not encoded yet is answered 409 encoding_area and re-sent until its
// polygon comes, for at most this long; then the page says so instead of waiting forever.
const ENCODING_WAIT_MS = 5 * 60 * 1000;
let encodingSince = null; // when the current prompt was first answered encoding_area
let retryTimer = null;

function snapshot() {
  return { points: state.prompt.points.map((p) => ({ ...p })), box: state.prompt.box ? { ...state.prompt.box } : null };
}

function changePrompt(next) {
  record({ kind: "prompt", before: snapshot(), after: next });
  applyPrompt(next);
}

/** Show ``prompt`` on the map and ask for its segment. */
function applyPrompt(prompt) {
  clearTimeout(retryTimer);
  encodingSince = null;
  transition.promptSet(prompt);
  promptLayer.clearLayers();
  for (const p of state.prompt.points) {
    L.circleMarker([p.lat, p.lng], {
      radius: 6, weight: 2, color: "#fff", fillOpacity: 1, fillColor: p.positive ? "#16a34a" : "#dc2626",
      interactive: false, className: p.positive ? "prompt-positive" : "prompt-negative",
    }).addTo(promptLayer);
  }
  const box = state.prompt.box;
  if (box) {
    L.rectangle([[box.s, box.w], [box.n, box.e]], { color: "#22d3ee", weight: 1.5, fill: false, interactive: false }).addTo(promptLayer);
  }
  segment();
}
onApply("prompt", applyPrompt);

/** A positive or negative point at ``latlng`` (EPSG:4326). */
export function addPoint(latlng, positive) {
  if (!canCreate) return toast("Viewers cannot annotate.", "error");
  const next = snapshot();
  next.points.push({ lat: latlng.lat, lng: latlng.lng, positive });
  changePrompt(next);
}

export function clearPrompt() {
  segmentSeq += 1;
  clearTimeout(retryTimer);
  encodingSince = null;
  promptLayer.clearLayers();
  previewLayer.clearLayers();
  transition.promptCleared();
  forget("prompt");
}

/** Whether there is a prompt or a preview (Esc clears it before it deselects). */
export function prompting() {
  return Boolean(state.prompt.points.length || state.prompt.box || state.preview);
}

async function segment() {
  const seq = ++segmentSeq;
  const { points, box } = state.prompt;
  const positive = points.filter((p) => p.positive).map((p) => [p.lng, p.lat]);
  const negative = points.filter((p) => !p.positive).map((p) => [p.lng, p.lat]);
  if (!positive.length && !box) {
    previewLayer.clearLayers();
    transition.previewDropped();
    return;
  }
  const started = performance.now();
  if (encodingSince === null) segmentEl.textContent = "Segmenting…";
  const result = await api(`/api/v1/images/${imageId}/segment`, {
    method: "POST",
    body: {
      positive, negative, box: box ? [box.w, box.s, box.e, box.n] : null,
      session_id: state.sessionId, simplify_px: SIMPLIFY_PX, max_vertices: MAX_VERTICES,
    },
  });
  if (seq !== segmentSeq) return; // a newer prompt is on its way
  const roundTrip = performance.now() - started;
  if (!result.ok && result.data && result.data.code === "encoding_area") return waitForArea(seq, result.data);
  encodingSince = null;
  if (!result.ok) {
    transition.segmented(state.preview);
    segmentEl.textContent = `Segment failed: ${errorText(result)}`;
    segmentEl.dataset.state = "error";
    return;
  }
  const feature = result.data;
  const p = feature.properties || {};
  previewLayer.clearLayers();
  if (feature.geometry) previewLayer.addData(feature);
  const serverMs = p.timing_ms ? ` (server ${Math.round(p.timing_ms.total)} ms)` : "";
  segmentEl.textContent = `Last segment: ${Math.round(roundTrip)} ms${serverMs} · score ${Number(p.score || 0).toFixed(2)}`;
  segmentEl.dataset.state = feature.geometry ? "ok" : "empty";
  segmentEl.dataset.latencyMs = String(Math.round(roundTrip));
  if (p.model) $("model-status").textContent = `Model: ${p.model}`;
  if (p.untrained) $("untrained-banner").hidden = false;
  if (feature.geometry && p.area_m2 !== undefined) segmentEl.textContent += ` · ${formatArea(p.area_m2)}`;
  if (!feature.geometry) segmentEl.textContent += " · no object found";
  if (p.simplify_px > SIMPLIFY_PX) segmentEl.textContent += ` · simplified at ${p.simplify_px} px to fit ${MAX_VERTICES} vertices`;
  transition.segmented(feature);
}

/**
 * The click's windows are being encoded first (409 encoding_area): say so and ask again
 * after the server's hint, until the polygon comes, the job fails or ENCODING_WAIT_MS pass.
 */
function waitForArea(seq, body) {
  if (encodingSince === null) encodingSince = performance.now();
  const job = body.job || {};
  const windows = body.windows || [];
  const ready = windows.filter((w) => w.stored).length;
  if (["failed", "cancelled"].includes(job.status) || performance.now() - encodingSince > ENCODING_WAIT_MS) {
    encodingSince = null;
    transition.segmented(state.preview);
    segmentEl.textContent = `Encoding this area did not finish: ${job.message || job.status || "no encode worker answered"}`;
    segmentEl.dataset.state = "error";
    return;
  }
  segmentEl.textContent = `Encoding this area… (${ready}/${windows.length} windows ready)`;
  segmentEl.dataset.state = "encoding";
  const delayMs = Math.min(10, Math.max(0.2, Number(body.retry_after_s) || 1)) * 1000;
  retryTimer = setTimeout(() => { if (seq === segmentSeq) segment(); }, delayMs);
}

/** Enter: the preview becomes a draft annotation, selected for editing. */
export async function accept() {
  const preview = state.preview;
  if (!preview || !preview.geometry) return toast("No preview to accept: click on an object first.");
  const p = preview.properties || {};
  const points = state.prompt.points;
  const body = {
    image: imageId, geometry: preview.geometry, label_class: state.labelId, source: "sam",
    // The server attaches the SAM2 figures this prompt session recorded (provenance, risk).
    session_id: state.sessionId,
    sam: {
      score: p.score, model: p.model, untrained: p.untrained, level: p.level,
      prompts: { positive: points.filter((x) => x.positive).length, negative: points.filter((x) => !x.positive).length, box: !!state.prompt.box },
    },
  };
  const result = await api(`/api/v1/projects/${projectId}/annotations/`, { method: "POST", body });
  if (!result.ok) return toast(`Not saved: ${errorText(result)}`, "error");
  clearPrompt();
  await adopt(result.data);
  $("save-status").textContent = `Saved v${state.current.version}`;
}

// Map gestures of the prompt tool: click = positive, Alt/right click = negative, drag = box.
let dragStart = null;
let dragBox = null;
let suppressClick = false;

/**
 * Whether a click on an existing polygon goes on to the map (a SAM2 point, a manual polygon's
 * vertex) instead of selecting that polygon: with Shift held or the "prompt through" toggle
 * on, and for the click that ends a box drag. A plain click selects.
 */
export function clickPassesThrough(event) {
  if (!canCreate || state.tool === "pan") return false;
  return suppressClick || event.shiftKey || state.promptThrough;
}

map.on("mousedown", (e) => {
  if (state.tool !== "prompt" || e.originalEvent.button !== 0) return;
  // A press on a vertex handle (or any marker) edits; it does not start a box.
  if (e.originalEvent.target.closest && e.originalEvent.target.closest(".leaflet-marker-icon")) return;
  dragStart = e;
});
map.on("mousemove", (e) => {
  if (!dragStart) return;
  if (!dragBox && dragStart.containerPoint.distanceTo(e.containerPoint) < 6) return;
  const bounds = L.latLngBounds(dragStart.latlng, e.latlng);
  if (!dragBox) dragBox = L.rectangle(bounds, { color: "#22d3ee", weight: 1.5, fill: false, interactive: false }).addTo(map);
  else dragBox.setBounds(bounds);
});
map.on("mouseup", (e) => {
  if (!dragStart) return;
  const start = dragStart;
  dragStart = null;
  if (!dragBox) return;
  dragBox.remove();
  dragBox = null;
  suppressClick = true;
  setTimeout(() => { suppressClick = false; }, 0);
  const b = L.latLngBounds(start.latlng, e.latlng);
  const next = snapshot();
  next.box = { w: b.getWest(), s: b.getSouth(), e: b.getEast(), n: b.getNorth() };
  changePrompt(next);
});
map.on("click", (e) => {
  if (state.tool !== "prompt" || suppressClick) return;
  addPoint(e.latlng, !e.originalEvent.altKey);
});
map.on("contextmenu", (e) => {
  if (state.tool !== "prompt") return;
  L.DomEvent.preventDefault(e.originalEvent);
  addPoint(e.latlng, false);
});
