// The selected annotation: its editable polygon (Leaflet-Geoman), the save queue, and what
// happens when the server refuses a change. Every change names the version it edits; what
// the user may do comes from the annotation's ``allowed_actions``; a refusal is told apart
// by its error ``code``: ``stale_version`` (someone else changed it: the drawing is kept and
// their version can be reloaded) or ``locked_for_review`` (submitted work waits for review).
import { api, errorText, toast } from "../common.js";
import { latLngsOf } from "../mapbase.js";
import { forget, onApply, record } from "./history.js";
import { CURRENT_STYLE, L, map, theirsLayer } from "./layers.js";
import { $, imageId, projectId } from "./page.js";
import { allows, keyClasses, state, transition } from "./state.js";
import { explainSubmitRefusal } from "./attributes.js";
import { setTool } from "./tools.js";

const SAVE_DELAY_MS = 400; // vertex drags in a burst become one save
const EDIT_OPTIONS = { allowSelfIntersection: false, draggable: false };
const staleBox = $("stale");
let saveTimer = null;
let saving = Promise.resolve();

function geometryOf(layer) {
  return layer.toGeoJSON().geometry;
}

function saveStatus(text) {
  $("save-status").textContent = text;
}

/** Vertex handles on while the API allows editing, off otherwise. */
function syncHandles() {
  const layer = state.current.layer;
  if (allows("edit")) {
    if (!layer.pm.enabled()) layer.pm.enable(EDIT_OPTIONS);
  } else if (layer.pm.enabled()) {
    layer.pm.disable();
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
  layer.pm.disable();
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

/** Save the selected annotation's geometry (and ``extra`` fields) naming the version it edits. */
export function save(extra = {}) {
  clearTimeout(saveTimer);
  saving = saving.then(async () => {
    const current = state.current;
    if (!current || !allows("edit")) return;
    const body = { version: current.version, geometry: geometryOf(current.layer), ...extra };
    saveStatus("Saving…");
    const result = await api(`/api/v1/annotations/${current.id}/`, { method: "PATCH", body, ifMatch: current.version });
    if (state.current !== current) return;
    if (!result.ok) {
      if (!(await refusedForState(result))) saveStatus(`Not saved: ${errorText(result)}`);
      return;
    }
    transition.updated(result.data);
    syncHandles();
    saveStatus(`Saved v${current.version}`);
  });
  return saving;
}

/**
 * Handle a refusal caused by the annotation's state on the server, by error code.
 * Returns whether it was one (the caller reports any other error itself).
 */
async function refusedForState(result) {
  const code = result.data && result.data.code;
  if (code === "stale_version") {
    showStale(result);
    return true;
  }
  if (code === "locked_for_review") {
    await showLocked(result);
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

/** The author's annotation went under review (another tab, a reviewer): show the server's copy, read only. */
async function showLocked(result) {
  const current = state.current;
  const reviewState = (result.data && result.data.state) || current.state;
  const message = reviewState === "approved"
    ? `Annotation #${current.id} is approved, so it is locked: only a reviewer or an owner can change it now. Your change was not saved.`
    : `Annotation #${current.id} is submitted, so it is locked until a reviewer approves it or sends it back to you. Your change was not saved.`;
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
map.on("pm:create", (e) => createManual(e.layer));

/** Number keys: the label class new annotations get, and the selected one's if the user may edit it. */
export async function pickLabel(index) {
  const cls = keyClasses()[index];
  if (!cls) return;
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
    if (!(await refusedForState(result)) && !explainSubmitRefusal(result)) toast(`Not submitted: ${errorText(result)}`, "error");
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
