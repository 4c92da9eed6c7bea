// The selected annotation: its editable polygon (Leaflet-Geoman, or nearby handles for large
// outlines: vertices.js), the save queue, and what happens when the server refuses a change.
// Every change names the version it edits, and only a real change is sent; what the user may
// do comes from the annotation's ``allowed_actions`` (a read-only one gets no handles, no
// label change, no request); a refusal is told apart by its error ``code``: ``stale_version``
// (someone else changed it: the drawing is kept and their version can be reloaded),
// ``locked_for_review`` (submitted work waits for review) or ``invalid_transition`` (it was
// already submitted or reviewed elsewhere; a stale version with a new state says the same).
import { api, errorText, toast } from "../common.js";
import { latLngsOf } from "../mapbase.js";
import { forget, onApply, record } from "./history.js";
import { CURRENT_STYLE, L, map, theirsLayer } from "./layers.js";
import { $, canCreate, imageId, projectId } from "./page.js";
import { allows, keyClasses, state, transition } from "./state.js";
import { setTool } from "./tools.js";
import { LARGE_OUTLINE_VERTICES, NearbyVertices, vertexCount } from "./vertices.js";

// Modules that know a submit refusal's code say what to do about it (attributes.js: the label
// rules); they register here, so that this module imports none of them.
const submitRefusalExplainers = [];
/** Register ``explain(result) -> boolean``: whether it explained a refused submit. */
export function explainSubmitRefusalsWith(explain) {
  submitRefusalExplainers.push(explain);
}

const SAVE_DELAY_MS = 400; // vertex drags in a burst become one save
const EDIT_OPTIONS = { allowSelfIntersection: false, draggable: false };
// Two outlines whose vertices are closer than this (degrees) are the same (the server's rule).
const SAME_DEG = 1e-9;
const staleBox = $("stale");
let saveTimer = null;
let saving = Promise.resolve();
let editor = null; // the vertex editor of the selected polygon while it is editable: {disable()}

/** The polygon's GeoJSON geometry (EPSG:4326) at full precision: unmoved vertices stay exact. */
function geometryOf(layer) {
  return layer.toGeoJSON(false).geometry;
}

function ringsOf(geometry) {
  return geometry.type === "Polygon" ? geometry.coordinates : geometry.coordinates.flat();
}

/** Whether two GeoJSON (Multi)Polygons have the same rings, vertex by vertex. */
function sameGeometry(a, b) {
  const ra = ringsOf(a);
  const rb = ringsOf(b);
  return ra.length === rb.length && ra.every((ring, r) => ring.length === rb[r].length &&
    ring.every(([x, y], i) => Math.abs(x - rb[r][i][0]) <= SAME_DEG && Math.abs(y - rb[r][i][1]) <= SAME_DEG));
}

function saveStatus(text) {
  $("save-status").textContent = text;
}

function startEditing(layer) {
  if (vertexCount(layer) > LARGE_OUTLINE_VERTICES) {
    editor = new NearbyVertices(layer, { onEdited: () => onEdited(layer), onRefused: saveStatus }).enable();
  } else {
    layer.pm.enable(EDIT_OPTIONS);
    editor = { disable: () => layer.pm.disable() };
  }
}

function stopEditing() {
  if (editor) editor.disable();
  editor = null;
}

/** Vertex handles on while the API allows editing, off otherwise. */
function syncHandles() {
  if (allows("edit")) {
    if (!editor) startEditing(state.current.layer);
  } else {
    stopEditing();
  }
}

/** Draw ``feature`` (API Feature) as the selected annotation. */
function makeCurrent(feature) {
  const layer = L.polygon(latLngsOf(feature.geometry), CURRENT_STYLE).addTo(map);
  layer.on("pm:edit", () => onEdited(layer));
  transition.selected(feature, layer);
  syncHandles();
}

function onEdited(layer) {
  const current = state.current;
  if (!current || current.layer !== layer) return;
  const after = geometryOf(current.layer);
  record({ kind: "edit", id: current.id, before: current.lastGeometry || current.saved, after });
  transition.edited(after);
  scheduleSave();
}

/** Replace the polygon's outline (undo, redo, their version) and save it. */
function setGeometry(geometry, { save: andSave = true } = {}) {
  const layer = state.current.layer;
  stopEditing();
  layer.setLatLngs(latLngsOf(geometry));
  transition.edited(geometry);
  syncHandles();
  if (andSave) scheduleSave();
}
onApply("edit", (geometry, step) => {
  if (state.current && state.current.id === step.id) setGeometry(geometry);
});

function scheduleSave() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => save(), SAVE_DELAY_MS);
}

/** What differs from the server's copy: the geometry, and those of ``extra`` (API fields) that changed. */
function changesOf(current, extra) {
  const changes = {};
  const geometry = geometryOf(current.layer);
  if (!sameGeometry(geometry, current.saved)) changes.geometry = geometry;
  for (const [name, value] of Object.entries(extra)) {
    if (JSON.stringify(value) !== JSON.stringify(current.savedProperties[name] ?? null)) changes[name] = value;
  }
  return changes;
}

/**
 * Save the selected annotation's geometry (and ``extra`` fields) naming the version it edits.
 * Nothing is sent when nothing changed or the user may not edit it. Resolves to whether a
 * change was sent.
 */
export function save(extra = {}) {
  clearTimeout(saveTimer);
  saving = saving.then(async () => {
    const current = state.current;
    if (!current || !allows("edit")) return false;
    const changes = changesOf(current, extra);
    if (!Object.keys(changes).length) return false;
    saveStatus("Saving…");
    const body = { version: current.version, ...changes };
    const result = await api(`/api/v1/annotations/${current.id}/`, { method: "PATCH", body, ifMatch: current.version });
    if (state.current !== current) return true;
    if (!result.ok) {
      if (!(await refusedForState(result))) saveStatus(`Not saved: ${errorText(result)}`);
      return true;
    }
    transition.updated(result.data);
    syncHandles();
    saveStatus(`Saved v${current.version}`);
    return true;
  });
  return saving;
}

/**
 * The server changed the selected annotation itself (``feature``: API Feature, e.g. a
 * regularisation): show its outline, and let undo bring back the one before (saved as a
 * further version, like any edit).
 */
export function adoptServerEdit(feature) {
  const current = state.current;
  if (!current || current.id !== feature.id) return;
  const before = current.lastGeometry || current.saved;
  transition.updated(feature);
  setGeometry(feature.geometry, { save: false });
  record({ kind: "edit", id: current.id, before, after: feature.geometry });
  saveStatus(`Saved v${current.version}`);
}

/** Ctrl+S: save now, and say so when there is nothing to save. */
export async function saveNow() {
  const current = state.current;
  if (!current) return;
  if (!allows("edit")) return saveStatus(`Annotation #${current.id} is read only (${current.state}): nothing to save.`);
  if (!(await save()) && state.current === current) saveStatus(`No changes to save: v${current.version} is on the server.`);
}

/**
 * Handle a refusal caused by the annotation's state on the server, by error code.
 * Returns whether it was one (the caller reports any other error itself).
 */
async function refusedForState(result) {
  const code = result.data && result.data.code;
  if (code === "stale_version") {
    // The version checks come first on the server, so work submitted in another tab (or
    // reviewed) meanwhile is refused as stale too: tell that apart from someone's edit.
    const current = state.current;
    const fresh = await api(`/api/v1/annotations/${current.id}/`);
    if (state.current !== current) return true;
    const now = fresh.ok && fresh.data.properties;
    if (now && now.state !== current.state && !(now.allowed_actions || []).includes("edit")) {
      await showServerState({ data: { code: "state_changed", state: now.state } });
    } else {
      showStale(result);
    }
    return true;
  }
  if (code === "locked_for_review" || code === "invalid_transition") {
    await showServerState(result);
    return true;
  }
  return false;
}

function showStale(result) {
  staleBox.hidden = false;
  $("stale-reload").hidden = false;
  $("stale-text").textContent = "Someone else changed this annotation since you loaded it. " +
    "Your drawing is kept on the map; reload to see their version, then save yours over it or take theirs.";
  saveStatus(`Not saved: ${errorText(result)}`);
}

/** What a refusal by state means to the user, from its code and the annotation's state now. */
function stateRefusalText(code, id, reviewState) {
  if (code === "invalid_transition" || code === "state_changed") {
    return `Annotation #${id} is already ${reviewState} (in another tab or by a reviewer), so nothing was changed here. ` +
      "The page now shows it as it is on the server.";
  }
  return reviewState === "approved"
    ? `Annotation #${id} is approved, so it is locked: only a reviewer or an owner can change it now. Your change was not saved.`
    : `Annotation #${id} is submitted, so it is locked until a reviewer approves it or sends it back to you. Your change was not saved.`;
}

/**
 * The annotation went under review or moved on elsewhere (another tab, a reviewer): say
 * so, and show the server's copy with what the user may do with it now.
 */
async function showServerState(result) {
  const current = state.current;
  const reviewState = (result.data && result.data.state) || current.state;
  const message = stateRefusalText(result.data.code, current.id, reviewState);
  saveStatus(message);
  toast(message, "error");
  const fresh = await api(`/api/v1/annotations/${current.id}/`);
  if (!fresh.ok || state.current !== current) return;
  forget("edit");
  transition.updated(fresh.data);
  setGeometry(fresh.data.geometry, { save: false });
}

async function reloadTheirs() {
  const current = state.current;
  if (!current) return;
  const result = await api(`/api/v1/annotations/${current.id}/`);
  if (!result.ok) return toast(errorText(result), "error");
  if (state.current !== current) return;
  const theirs = result.data;
  theirsLayer.clearLayers();
  theirsLayer.addData(theirs);
  transition.theirsLoaded(theirs);
  $("stale-text").textContent = `Their version v${current.version} is shown dotted in purple. ` +
    "Save mine keeps your drawing; Take theirs replaces it.";
  $("stale-reload").hidden = true;
  $("stale-save").hidden = false;
  $("stale-take").hidden = false;
}

function closeStale() {
  staleBox.hidden = true;
  $("stale-reload").hidden = false;
  $("stale-save").hidden = true;
  $("stale-take").hidden = true;
  theirsLayer.clearLayers();
}

$("stale-reload").addEventListener("click", reloadTheirs);
$("stale-save").addEventListener("click", () => {
  closeStale();
  save(state.current ? { label_class: state.current.labelId } : {});
});
$("stale-take").addEventListener("click", () => {
  const current = state.current;
  if (!current || !current.theirs) return;
  const theirs = current.theirs;
  closeStale();
  transition.updated(theirs);
  setGeometry(theirs.geometry, { save: false });
});

/** Save what is pending and let go of the selected annotation. */
export async function deselect() {
  if (!state.current) return;
  await save();
  stopEditing();
  state.current.layer.remove();
  closeStale();
  forget("edit");
  transition.deselected();
}

/** Select ``feature`` (API Feature) for editing, letting go of the previous one. */
export async function select(feature) {
  if (state.current && state.current.id === feature.id) return;
  await adopt(feature);
}

/** ``feature`` (a new or reloaded API Feature) becomes the selected annotation. */
export async function adopt(feature) {
  await deselect();
  makeCurrent(feature);
}

/** A polygon drawn with the manual tool (Leaflet layer) becomes a draft annotation. */
export async function createManual(layer) {
  const geometry = geometryOf(layer);
  layer.remove();
  const body = { image: imageId, geometry, label_class: state.labelId, source: "manual" };
  const result = await api(`/api/v1/projects/${projectId}/annotations/`, { method: "POST", body });
  setTool("prompt");
  if (!result.ok) return toast(`Not saved: ${errorText(result)}`, "error");
  await adopt(result.data);
}
// A polygon drawn as a drafting run's area (drafts.js) is not an annotation.
map.on("pm:create", (e) => { if (!e.layer.options.draftsArea) createManual(e.layer); });

/** Number keys: the label class new annotations get, and the selected one's if the user may edit it. */
export async function pickLabel(index) {
  const cls = keyClasses()[index];
  if (!cls || !canCreate) return;
  const current = state.current;
  if (current && !allows("edit")) {
    return saveStatus(`Annotation #${current.id} is read only (${current.state}): its label stays as it is. Esc lets go of it.`);
  }
  transition.labelPicked(cls.id);
  if (allows("edit")) await save({ label_class: cls.id });
}

export async function submitCurrent() {
  const current = state.current;
  if (!current) return toast("Select or accept an annotation first.");
  if (!allows("submit")) return toast(`You cannot submit annotation #${current.id} now (it is ${current.state}).`, "error");
  await save();
  if (state.current !== current) return;
  const result = await api(`/api/v1/annotations/${current.id}/submit/`, {
    method: "POST", body: { version: current.version }, ifMatch: current.version,
  });
  if (!result.ok) {
    if (!(await refusedForState(result)) && !submitRefusalExplainers.some((explain) => explain(result))) {
      toast(`Not submitted: ${errorText(result)}`, "error");
    }
    return;
  }
  toast(`Annotation #${current.id} submitted for review.`);
  transition.updated(result.data);
  await deselect();
}

export async function deleteCurrent() {
  const current = state.current;
  if (!current) return;
  if (!allows("delete")) return toast(`You cannot delete annotation #${current.id} now (it is ${current.state}).`, "error");
  await saving;
  const result = await api(`/api/v1/annotations/${current.id}/`, {
    method: "DELETE", body: { version: current.version }, ifMatch: current.version,
  });
  if (!result.ok) {
    if (!(await refusedForState(result))) toast(`Not deleted: ${errorText(result)}`, "error");
    return;
  }
  toast(`Annotation #${current.id} deleted.`);
  stopEditing();
  current.layer.remove();
  closeStale();
  forget("edit");
  transition.deselected();
}

/** Open the annotation ``id`` selected and zoom to it (?annotation=ID). */
export async function focus(id) {
  const result = await api(`/api/v1/annotations/${id}/`);
  if (!result.ok) return toast(`Annotation #${id}: ${errorText(result)}`, "error");
  await adopt(result.data);
  // Resolve once the zoom has ended (Leaflet fires moveend even when the view is unchanged),
  // so that what follows sees the final view.
  await new Promise((resolve) => {
    map.once("moveend", resolve);
    map.fitBounds(state.current.layer.getBounds(), { padding: [80, 80], maxZoom: 19 });
  });
}
