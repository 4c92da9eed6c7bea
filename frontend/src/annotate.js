// Annotate page: SAM2 prompts (click, Alt/right click, drag = box) → preview polygon →
// Enter accepts into an editable polygon (Leaflet-Geoman) → label, save, submit.
// Every change names the version it edits; a 409 keeps the user's drawing and offers a reload.
import L from "./leaflet-global.js";
import "@geoman-io/leaflet-geoman-free";
import { api, el, errorText, toast, typingInField } from "./common.js";
import { annotationStyle, imageMap, latLngsOf, loadClasses, loadImage, showImage } from "./mapbase.js";

const root = document.getElementById("map");
const imageId = Number(root.dataset.imageId);
const projectId = Number(root.dataset.projectId);
const username = root.dataset.username;
const role = root.dataset.role;
const canAnnotate = ["owner", "reviewer", "annotator"].includes(role);
const canReview = role === "owner" || role === "reviewer";
// Outline simplification asked of the segment endpoint, in image pixels: fewer vertices to edit.
const SIMPLIFY_PX = 1.0;
// The server simplifies further until an outline can be saved under the annotation vertex limit.
const MAX_VERTICES = Number(root.dataset.maxVertices) || null;
const focusId = Number(new URLSearchParams(location.search).get("annotation")) || null;

const $ = (id) => document.getElementById(id);
const statusEl = $("image-status");
const segmentEl = $("segment-status");
const labelEl = $("label-status");
const toolEl = $("tool-status");
const banner = $("untrained-banner");
const staleBox = $("stale");

const map = imageMap(root, { doubleClickZoom: false });
map.pm.setGlobalOptions({ allowSelfIntersection: false, snappable: false });
map.pm.setLang("en");
const layers = {};
const annotationLayer = L.geoJSON(null, { style: (f) => annotationStyle(f, classes) }).addTo(map);
const areaLayer = L.geoJSON(null, {
  style: { color: "#f97316", weight: 2, dashArray: "8 6", fill: false }, interactive: false,
}).addTo(map);
const areaLabels = L.layerGroup().addTo(map);
const promptLayer = L.layerGroup().addTo(map);
const previewLayer = L.geoJSON(null, {
  style: { color: "#22d3ee", weight: 2, dashArray: "3 3", fillColor: "#22d3ee", fillOpacity: 0.25 }, interactive: false,
}).addTo(map);
const theirsLayer = L.geoJSON(null, {
  style: { color: "#a855f7", weight: 2, dashArray: "2 4", fill: false }, interactive: false,
}).addTo(map);

let image = null;
let classes = [];
let labelId = null; // the label class new annotations get (number keys pick it)
let tool = "prompt"; // prompt | pan | polygon
let prompt = { points: [], box: null }; // points: {lat, lng, positive}
let sessionId = null;
let preview = null; // the last segment Feature
let segmentSeq = 0;
let segmentsDone = 0; // responses shown (tests and the status bar use it)
let current = null; // {id, version, state, author, labelId, layer, saved: geometry}
let saveTimer = null;
let saving = Promise.resolve();
const undoStack = [];
const redoStack = [];
let visible = []; // annotation features in view, for [ and ]

// --- status bar ---------------------------------------------------------------------
function showTool() {
  toolEl.textContent = `Tool: ${{ prompt: "SAM2 prompt", pan: "pan", polygon: "manual polygon" }[tool]}`;
  document.querySelectorAll("[data-tool]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.tool === tool)));
  if (tool === "prompt") map.dragging.disable(); else map.dragging.enable();
  root.classList.toggle("crosshair", tool === "prompt");
}

function showLabel() {
  const cls = classes.find((c) => c.id === (current ? current.labelId : labelId));
  labelEl.replaceChildren("Label: ",
    cls ? el("span", { class: "swatch", style: `background:${cls.colour}` }) : "",
    cls ? cls.name : "none");
  document.querySelectorAll("#classes li").forEach((li) => li.classList.toggle("active", Number(li.dataset.id) === (current ? current.labelId : labelId)));
}

function showSelection() {
  const info = $("selection");
  if (!current) {
    info.textContent = preview ? "Preview ready: Enter accepts it." : "Nothing selected.";
    return;
  }
  info.replaceChildren(`Annotation #${current.id} · ${current.state} · v${current.version}` +
    (current.author ? ` · by ${current.author}` : "") + (current.editable ? "" : " · read only"));
}

function showImageStatus() {
  const job = image.job;
  const running = job && ["queued", "running"].includes(job.status);
  statusEl.textContent = `${image.name}: ${image.status}` +
    (running ? ` (${job.kind} ${Math.round(job.progress * 100)}%)` : "") + (image.error ? ` — ${image.error}` : "");
  statusEl.dataset.status = image.status;
  const enc = image.encoding;
  if (enc) $("model-status").textContent = `Model: ${enc.model}`;
  banner.hidden = !(enc && enc.untrained);
}

// --- loading ------------------------------------------------------------------------
async function pollImage() {
  try {
    image = await loadImage(imageId);
  } catch (error) {
    statusEl.textContent = `Could not load the image: ${error.message}`;
    return;
  }
  showImageStatus();
  showImage(map, image, layers);
  const jobRunning = image.job && ["queued", "running"].includes(image.job.status);
  if (!["encoded", "failed"].includes(image.status) && (jobRunning || image.status !== "ready")) setTimeout(pollImage, 1500);
}

async function loadAnnotations() {
  const b = map.getBounds();
  const bbox = [Math.max(b.getWest(), -180), Math.max(b.getSouth(), -90), Math.min(b.getEast(), 180), Math.min(b.getNorth(), 90)];
  const result = await api(`/api/v1/projects/${projectId}/annotations/?image=${imageId}&bbox=${bbox.join(",")}&limit=1000`);
  if (!result.ok) return;
  annotationLayer.clearLayers();
  visible = result.data.features.filter((f) => !current || f.id !== current.id);
  annotationLayer.addData(visible);
  annotationLayer.eachLayer((layer) => {
    layer.on("click", (e) => {
      L.DomEvent.stop(e);
      select(layer.feature);
    });
    const p = layer.feature.properties;
    // Elements, not strings: Leaflet puts string content in as HTML.
    layer.bindTooltip(el("span", {}, `#${layer.feature.id} ${p.label_class_name || "unlabelled"} · ${p.state}`), { sticky: true });
  });
  $("annotation-count").textContent = `${result.data.count} annotation(s) in view`;
}

async function loadAreas() {
  const result = await api(`/api/v1/projects/${projectId}/areas/?image=${imageId}`);
  if (!result.ok) return;
  areaLayer.clearLayers();
  areaLabels.clearLayers();
  areaLayer.addData(result.data);
  areaLayer.eachLayer((layer) => {
    // Areas take no mouse events (clicks inside them prompt SAM2), so a hover tooltip would
    // never open: each area's name and assignee sit as a label at its north-west corner.
    const p = layer.feature.properties;
    const bounds = layer.getBounds();
    L.tooltip({ permanent: true, direction: "right", className: "area-label", interactive: false })
      .setLatLng([bounds.getNorth(), bounds.getWest()])
      .setContent(el("span", {}, `${p.name || "area"}${p.assignee ? ` · ${p.assignee}` : ""}`))
      .addTo(areaLabels);
  });
}

function renderClasses() {
  $("classes").replaceChildren(...classes.slice(0, 9).map((c, i) => el("li", { dataset: { id: c.id } },
    el("button", { type: "button", class: "link", onclick: () => pickLabel(i) },
      el("kbd", {}, String(i + 1)), " ", el("span", { class: "swatch", style: `background:${c.colour}` }), " ", c.name))));
  showLabel();
}

// --- prompts and the segment endpoint ------------------------------------------------
function snapshotPrompt() {
  return { points: prompt.points.map((p) => ({ ...p })), box: prompt.box ? { ...prompt.box } : null };
}

function changePrompt(next) {
  undoStack.push({ kind: "prompt", before: snapshotPrompt(), after: next });
  redoStack.length = 0;
  applyPrompt(next);
}

function applyPrompt(next) {
  prompt = { points: next.points.map((p) => ({ ...p })), box: next.box ? { ...next.box } : null };
  promptLayer.clearLayers();
  for (const p of prompt.points) {
    L.circleMarker([p.lat, p.lng], {
      radius: 6, weight: 2, color: "#fff", fillOpacity: 1, fillColor: p.positive ? "#16a34a" : "#dc2626",
      interactive: false, className: p.positive ? "prompt-positive" : "prompt-negative",
    }).addTo(promptLayer);
  }
  if (prompt.box) {
    L.rectangle([[prompt.box.s, prompt.box.w], [prompt.box.n, prompt.box.e]], {
      color: "#22d3ee", weight: 1.5, fill: false, interactive: false,
    }).addTo(promptLayer);
  }
  segment();
}

function addPoint(latlng, positive) {
  if (!canAnnotate) return toast("Viewers cannot annotate.", "error");
  const next = snapshotPrompt();
  next.points.push({ lat: latlng.lat, lng: latlng.lng, positive });
  changePrompt(next);
}

function clearPrompt() {
  segmentSeq += 1;
  prompt = { points: [], box: null };
  promptLayer.clearLayers();
  previewLayer.clearLayers();
  preview = null;
  sessionId = null;
  undoStack.splice(0, undoStack.length, ...undoStack.filter((u) => u.kind !== "prompt"));
  redoStack.splice(0, redoStack.length, ...redoStack.filter((u) => u.kind !== "prompt"));
  showSelection();
}

async function segment() {
  const seq = ++segmentSeq;
  const positive = prompt.points.filter((p) => p.positive).map((p) => [p.lng, p.lat]);
  const negative = prompt.points.filter((p) => !p.positive).map((p) => [p.lng, p.lat]);
  const box = prompt.box ? [prompt.box.w, prompt.box.s, prompt.box.e, prompt.box.n] : null;
  if (!positive.length && !box) {
    previewLayer.clearLayers();
    preview = null;
    showSelection();
    return;
  }
  const started = performance.now();
  segmentEl.textContent = "Segmenting…";
  const result = await api(`/api/v1/images/${imageId}/segment`, {
    method: "POST", body: { positive, negative, box, session_id: sessionId, simplify_px: SIMPLIFY_PX, max_vertices: MAX_VERTICES },
  });
  if (seq !== segmentSeq) return; // a newer prompt is on its way
  const roundTrip = performance.now() - started;
  segmentsDone += 1;
  if (!result.ok) {
    segmentEl.textContent = `Segment failed: ${errorText(result)}`;
    segmentEl.dataset.state = "error";
    return;
  }
  const feature = result.data;
  const p = feature.properties || {};
  sessionId = p.session_id || sessionId;
  preview = feature;
  previewLayer.clearLayers();
  if (feature.geometry) previewLayer.addData(feature);
  const serverMs = p.timing_ms ? ` (server ${Math.round(p.timing_ms.total)} ms)` : "";
  segmentEl.textContent = `Last segment: ${Math.round(roundTrip)} ms${serverMs} · score ${Number(p.score || 0).toFixed(2)}`;
  segmentEl.dataset.state = feature.geometry ? "ok" : "empty";
  segmentEl.dataset.latencyMs = String(Math.round(roundTrip));
  if (p.model) $("model-status").textContent = `Model: ${p.model}`;
  if (p.untrained) banner.hidden = false;
  if (!feature.geometry) segmentEl.textContent += " · no object found";
  if (p.simplify_px > SIMPLIFY_PX) segmentEl.textContent += ` · simplified at ${p.simplify_px} px to fit ${MAX_VERTICES} vertices`;
  showSelection();
}

// Map gestures of the prompt tool: click = positive, Alt/right click = negative, drag = box.
let dragStart = null;
let dragBox = null;
let suppressClick = false;

map.on("mousedown", (e) => {
  if (tool !== "prompt" || e.originalEvent.button !== 0) return;
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
  const next = snapshotPrompt();
  next.box = { w: b.getWest(), s: b.getSouth(), e: b.getEast(), n: b.getNorth() };
  changePrompt(next);
});
map.on("click", (e) => {
  if (tool !== "prompt" || suppressClick) return;
  addPoint(e.latlng, !e.originalEvent.altKey);
});
map.on("contextmenu", (e) => {
  if (tool !== "prompt") return;
  L.DomEvent.preventDefault(e.originalEvent);
  addPoint(e.latlng, false);
});

// --- annotations: accept, select, edit, save -------------------------------------------
function geometryOf(layer) {
  return layer.toGeoJSON().geometry;
}

function makeCurrent(feature) {
  const p = feature.properties;
  const editable = canAnnotate && (canReview || p.author === username) && p.state !== "approved";
  const layer = L.polygon(latLngsOf(feature.geometry), {
    color: "#facc15", weight: 3, fillOpacity: 0.15, className: "current-annotation",
  }).addTo(map);
  current = {
    id: feature.id, version: p.version, state: p.state, author: p.author,
    labelId: p.label_class, layer, saved: feature.geometry, editable,
  };
  if (editable) {
    layer.pm.enable({ allowSelfIntersection: false, draggable: false });
    layer.on("pm:edit", onEdited);
  }
  showLabel();
  showSelection();
}

function onEdited() {
  if (!current) return;
  const after = geometryOf(current.layer);
  undoStack.push({ kind: "edit", id: current.id, before: current.lastGeometry || current.saved, after });
  redoStack.length = 0;
  current.lastGeometry = after;
  scheduleSave();
}

function setGeometry(geometry) {
  const layer = current.layer;
  layer.pm.disable();
  layer.setLatLngs(latLngsOf(geometry));
  current.lastGeometry = geometry;
  if (current.editable) layer.pm.enable({ allowSelfIntersection: false, draggable: false });
  scheduleSave();
}

function scheduleSave() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => save(), 400);
}

/** Save the current annotation's geometry (and label) naming the version it edits. */
function save(extra = {}) {
  clearTimeout(saveTimer);
  saving = saving.then(async () => {
    if (!current || !current.editable) return;
    const body = { version: current.version, geometry: geometryOf(current.layer), ...extra };
    $("save-status").textContent = "Saving…";
    const result = await api(`/api/v1/annotations/${current.id}/`, { method: "PATCH", body, ifMatch: current.version });
    if (result.status === 409) return showStale(result);
    if (!result.ok) {
      $("save-status").textContent = `Not saved: ${errorText(result)}`;
      return;
    }
    updateCurrent(result.data);
    $("save-status").textContent = `Saved v${current.version}`;
  });
  return saving;
}

function updateCurrent(feature) {
  const p = feature.properties;
  Object.assign(current, { version: p.version, state: p.state, labelId: p.label_class, saved: feature.geometry });
  showLabel();
  showSelection();
}

async function showStale(result) {
  staleBox.hidden = false;
  $("stale-text").textContent = "Someone else changed this annotation since you loaded it. " +
    "Your drawing is kept on the map; reload to see their version, then save yours over it or take theirs.";
  $("save-status").textContent = `Not saved: ${errorText(result)}`;
}

async function reloadTheirs() {
  if (!current) return;
  const result = await api(`/api/v1/annotations/${current.id}/`);
  if (!result.ok) return toast(errorText(result), "error");
  const theirs = result.data;
  theirsLayer.clearLayers();
  theirsLayer.addData(theirs);
  current.version = theirs.properties.version;
  current.state = theirs.properties.state;
  current.theirs = theirs;
  $("stale-text").textContent = `Their version v${current.version} is shown dotted in purple. ` +
    "Save mine keeps your drawing; Take theirs replaces it.";
  $("stale-save").hidden = false;
  $("stale-take").hidden = false;
  showSelection();
}

function closeStale() {
  staleBox.hidden = true;
  $("stale-save").hidden = true;
  $("stale-take").hidden = true;
  theirsLayer.clearLayers();
}

$("stale-reload").addEventListener("click", reloadTheirs);
$("stale-save").addEventListener("click", () => { closeStale(); save(current ? { label_class: current.labelId } : {}); });
$("stale-take").addEventListener("click", () => {
  if (current && current.theirs) {
    const theirs = current.theirs;
    closeStale();
    current.layer.pm.disable();
    current.layer.setLatLngs(latLngsOf(theirs.geometry));
    if (current.editable) current.layer.pm.enable({ allowSelfIntersection: false, draggable: false });
    updateCurrent(theirs);
  }
});

async function deselect() {
  if (!current) return;
  await save();
  current.layer.remove();
  current = null;
  closeStale();
  undoStack.splice(0, undoStack.length, ...undoStack.filter((u) => u.kind !== "edit"));
  redoStack.splice(0, redoStack.length, ...redoStack.filter((u) => u.kind !== "edit"));
  showLabel();
  showSelection();
  loadAnnotations();
}

async function select(feature) {
  if (current && current.id === feature.id) return;
  await deselect();
  makeCurrent(feature);
  loadAnnotations();
}

async function accept() {
  if (!preview || !preview.geometry) return toast("No preview to accept: click on an object first.");
  const p = preview.properties || {};
  const body = {
    image: imageId, geometry: preview.geometry, label_class: labelId, source: "sam",
    sam: { score: p.score, model: p.model, untrained: p.untrained, level: p.level,
      prompts: { positive: prompt.points.filter((x) => x.positive).length, negative: prompt.points.filter((x) => !x.positive).length, box: !!prompt.box } },
  };
  const result = await api(`/api/v1/projects/${projectId}/annotations/`, { method: "POST", body });
  if (!result.ok) return toast(`Not saved: ${errorText(result)}`, "error");
  clearPrompt();
  await deselect();
  makeCurrent(result.data);
  $("save-status").textContent = `Saved v${current.version}`;
  loadAnnotations();
}

async function createManual(layer) {
  const geometry = geometryOf(layer);
  layer.remove();
  const body = { image: imageId, geometry, label_class: labelId, source: "manual" };
  const result = await api(`/api/v1/projects/${projectId}/annotations/`, { method: "POST", body });
  setTool("prompt");
  if (!result.ok) return toast(`Not saved: ${errorText(result)}`, "error");
  await deselect();
  makeCurrent(result.data);
  loadAnnotations();
}
map.on("pm:create", (e) => createManual(e.layer));

async function pickLabel(index) {
  const cls = classes[index];
  if (!cls) return;
  labelId = cls.id;
  if (current && current.editable) {
    current.labelId = cls.id;
    await save({ label_class: cls.id });
  }
  showLabel();
}

async function submitCurrent() {
  if (!current) return toast("Select or accept an annotation first.");
  await save();
  const result = await api(`/api/v1/annotations/${current.id}/submit/`, { method: "POST", body: { version: current.version }, ifMatch: current.version });
  if (result.status === 409) return showStale(result);
  if (!result.ok) return toast(`Not submitted: ${errorText(result)}`, "error");
  toast(`Annotation #${current.id} submitted for review.`);
  updateCurrent(result.data);
  await deselect();
}

async function deleteCurrent() {
  if (!current) return clearPrompt();
  if (!current.editable) return toast("You cannot delete this annotation.", "error");
  await saving;
  const result = await api(`/api/v1/annotations/${current.id}/`, { method: "DELETE", body: { version: current.version }, ifMatch: current.version });
  if (result.status === 409) return showStale(result);
  if (!result.ok) return toast(`Not deleted: ${errorText(result)}`, "error");
  toast(`Annotation #${current.id} deleted.`);
  current.layer.remove();
  current = null;
  showSelection();
  loadAnnotations();
}

// --- undo / redo of prompts and edits ----------------------------------------------
function undo() {
  const step = undoStack.pop();
  if (!step) return;
  redoStack.push(step);
  if (step.kind === "prompt") applyPrompt(step.before);
  else if (current && current.id === step.id) setGeometry(step.before);
}

function redo() {
  const step = redoStack.pop();
  if (!step) return;
  undoStack.push(step);
  if (step.kind === "prompt") applyPrompt(step.after);
  else if (current && current.id === step.id) setGeometry(step.after);
}

// --- tools and keys --------------------------------------------------------------------
function setTool(name) {
  if (tool === "polygon" && name !== "polygon") map.pm.disableDraw();
  tool = name;
  if (tool === "polygon") map.pm.enableDraw("Polygon", { snappable: false, allowSelfIntersection: false });
  showTool();
}
document.querySelectorAll("[data-tool]").forEach((b) => b.addEventListener("click", () => setTool(b.dataset.tool)));

function cycle(step) {
  if (!visible.length) return;
  const ids = visible.map((f) => f.id);
  const at = current ? ids.indexOf(current.id) : -1;
  const next = visible[(at + step + visible.length) % visible.length];
  select(next).then(() => map.fitBounds(current.layer.getBounds(), { maxZoom: map.getZoom(), padding: [40, 40] }));
}

const help = $("help");
function toggleHelp(show = help.hidden) {
  help.hidden = !show;
  if (show) help.querySelector("button").focus();
}
$("help-close").addEventListener("click", () => toggleHelp(false));
$("help-open").addEventListener("click", () => toggleHelp(true));

document.addEventListener("keydown", (event) => {
  if (typingInField(event)) return;
  const key = event.key;
  const ctrl = event.ctrlKey || event.metaKey;
  if (key === "?") { toggleHelp(); event.preventDefault(); return; }
  if (!help.hidden) { if (key === "Escape") toggleHelp(false); return; }
  if (ctrl && (key === "z" || key === "Z")) { event.preventDefault(); return event.shiftKey ? redo() : undo(); }
  if (ctrl && (key === "y" || key === "Y")) { event.preventDefault(); return redo(); }
  if (ctrl && (key === "s" || key === "S")) { event.preventDefault(); return save(); }
  if (ctrl || event.altKey) return;
  const centre = map.getCenter();
  switch (key) {
    case "Escape":
      if (tool === "polygon") return setTool("prompt");
      if (prompt.points.length || prompt.box || preview) return clearPrompt();
      return deselect();
    case "Enter": event.preventDefault(); return accept();
    case "s": case "S": return submitCurrent();
    case "Delete": case "Backspace": event.preventDefault(); return deleteCurrent();
    case "q": case "Q": return addPoint(centre, true);
    case "w": case "W": return addPoint(centre, false);
    case "p": case "P": return setTool("polygon");
    case "h": case "H": return setTool(tool === "pan" ? "prompt" : "pan");
    case "t": case "T": return setTool("prompt");
    case "]": return cycle(1);
    case "[": return cycle(-1);
    case "ArrowLeft": case "ArrowRight": case "ArrowUp": case "ArrowDown":
      if (document.activeElement === root) return; // Leaflet's own keyboard handler pans
      event.preventDefault();
      return map.panBy({ ArrowLeft: [-100, 0], ArrowRight: [100, 0], ArrowUp: [0, -100], ArrowDown: [0, 100] }[key]);
    case "+": case "=": return map.zoomIn();
    case "-": return map.zoomOut();
    default:
      if (/^[1-9]$/.test(key)) return pickLabel(Number(key) - 1);
  }
});

// Space held: pan with the mouse whatever the tool.
document.addEventListener("keydown", (e) => { if (e.key === " " && !typingInField(e)) { e.preventDefault(); map.dragging.enable(); } });
document.addEventListener("keyup", (e) => { if (e.key === " " && tool === "prompt") map.dragging.disable(); });

map.on("moveend", loadAnnotations);

async function start() {
  classes = await loadClasses(projectId);
  renderClasses();
  showTool();
  await pollImage();
  if (focusId) {
    const result = await api(`/api/v1/annotations/${focusId}/`);
    if (result.ok) {
      makeCurrent(result.data);
      map.fitBounds(current.layer.getBounds(), { padding: [80, 80], maxZoom: 19 });
    }
  }
  loadAnnotations();
  loadAreas();
}

window.geoprompt = { map, state: () => ({
  prompt, tool, labelId, segments: segmentsDone, preview: preview && { geometry: preview.geometry, properties: preview.properties },
  current: current && { id: current.id, version: current.version, state: current.state, labelId: current.labelId },
  undo: undoStack.length, redo: redoStack.length,
})  };
start();
