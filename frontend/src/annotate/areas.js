// Assigned areas on the annotate page. Reviewers and owners draw them with the Area tool
// (drag a rectangle, then drag its corners, or its middle handles to add corners, for any
// polygon), name them and give them to a member, or to nobody yet; they edit, reassign and
// delete them from the panel's list, which shows each area's progress. ``?area=ID`` opens
// the page zoomed on an area, and "Next task" goes to the user's next area or rejected
// annotation in the project. What the user may do with an area comes from the API
// (``allowed_actions``; the page's ``data-manage`` for drawing new ones).
import { api, el, errorText, toast, typingInField } from "../common.js";
import { confirmDialog } from "../dialogs.js";
import { latLngsOf } from "../mapbase.js";
import { completion, stateSummary } from "../progress.js";
import { deselect } from "./editing.js";
import { L, map } from "./layers.js";
import { loadAreas } from "./overlays.js";
import { $, canCreate, imageId, projectId, root } from "./page.js";
import { onChange, state } from "./state.js";
import { TOOLS, setTool } from "./tools.js";

TOOLS.area = "assigned area";

const panel = $("areas-panel");
const mayManage = panel.dataset.manage === "true";
const params = new URLSearchParams(location.search);
const areaParam = Number(params.get("area")) || null;
const annotationParam = Number(params.get("annotation")) || null;
const base = `/api/v1/projects/${projectId}/areas/`;
const DRAFT_STYLE = { color: "#ea580c", weight: 3, dashArray: "8 6", fillColor: "#fdba74", fillOpacity: 0.12, className: "area-draft" };
const MIN_DRAG_PX = 6;
const REFRESH_DELAY_MS = 600; // annotation saves in a burst refresh the list once

let areas = []; // this image's areas (API Features) as the list shows them
/** The area being drawn or edited: {id (null for a new one), name, assignee, layer (null until drawn)}. */
let draft = null;
let dragStart = null;
let dragBox = null;
let assignees = null; // who an area may be given to ([{username, role}]), loaded once
let refreshTimer = null;

const listBox = el("div", { id: "area-list" });
const editorBox = el("div", { id: "area-editor" });
panel.replaceChildren(...[
  el("h2", { id: "areas-h" }, "Areas"),
  canCreate ? el("p", { class: "area-actions" },
    el("button", { type: "button", class: "button secondary", id: "next-task", onclick: nextTask }, "Next task ›"), " ",
    el("a", { href: `/projects/${projectId}/tasks/` }, "My tasks")) : null,
  editorBox,
  listBox,
].filter(Boolean));

function nameOf(feature) {
  return feature.properties.name || `Area ${feature.id}`;
}

/** Fit the map to ``bounds``; resolves once the zoom has ended (tests wait for the page's state). */
function fitTo(bounds) {
  return new Promise((resolve) => {
    map.once("moveend", resolve);
    map.fitBounds(bounds, { padding: [40, 40], maxZoom: 19 });
  });
}

function areaItem(feature) {
  const p = feature.properties;
  const allowed = new Set(p.allowed_actions || []);
  return el("li", { dataset: { areaId: feature.id }, class: feature.id === areaParam ? "current-task" : null },
    el("button", { type: "button", class: "link", title: "Show it on the map", onclick: () => fitTo(L.geoJSON(feature).getBounds()) },
      nameOf(feature)),
    " · ", p.assignee ? p.assignee : el("span", { class: "muted" }, "unassigned"),
    el("div", { class: "muted", dataset: { testid: `area-progress-${feature.id}` } },
      completion(p.progress), " · ", stateSummary(p.progress && p.progress.by_state)),
    allowed.has("edit") ? el("button", { type: "button", class: "link", "aria-label": `Edit ${nameOf(feature)}`, onclick: () => startDraft(feature) }, "Edit") : null,
    allowed.has("edit") && allowed.has("delete") ? " · " : null,
    allowed.has("delete") ? el("button", { type: "button", class: "link danger", "aria-label": `Delete ${nameOf(feature)}`, onclick: () => deleteArea(feature) }, "Delete") : null);
}

function renderList() {
  listBox.replaceChildren(areas.length
    ? el("ul", { class: "area-list" }, areas.map(areaItem))
    : el("p", { class: "muted" }, mayManage ? "No areas on this image yet: the Area tool draws one." : "No area of yours on this image."));
}

/** Load this image's areas: the map's outlines (overlays.js) and the panel's list. */
async function refresh() {
  const [result] = await Promise.all([api(`${base}?image=${imageId}`), loadAreas()]);
  if (!result.ok) return;
  areas = result.data.features;
  renderList();
}

/** The list, then the view on ``?area=ID`` if the page was opened on a task. */
export async function startAreas() {
  await refresh();
  if (!areaParam) return;
  const result = await api(`${base}${areaParam}/`);
  if (!result.ok) return toast(`Area ${areaParam}: ${errorText(result)}`, "error");
  await fitTo(L.geoJSON(result.data).getBounds());
}

async function nextTask() {
  const current = areaParam ? `&kind=area&id=${areaParam}` : annotationParam ? `&kind=rejected&id=${annotationParam}` : "";
  const result = await api(`/api/v1/tasks/next/?project=${projectId}${current}`);
  if (!result.ok) return toast(errorText(result), "error");
  if (!result.data.task) return toast("No other task in this project: no area is assigned to you and nothing of yours waits for a fix.");
  await deselect(); // what is being edited is saved before the page goes
  location.assign(result.data.task.url);
}

// --- drawing and editing an area (reviewers and owners) -------------------------------------

function editorHint() {
  return draft.layer
    ? "Drag the corners to reshape the area; the middle handles add corners. A drag beside them pans."
    : "Drag on the map to draw the area as a rectangle.";
}

async function showEditor() {
  if (!assignees) {
    const result = await api(`${base}assignees/`);
    assignees = result.ok ? result.data : [];
  }
  if (!draft) return;
  const name = el("input", { id: "area-name", maxlength: "200", value: draft.name });
  const assignee = el("select", { id: "area-assignee" },
    el("option", { value: "" }, "nobody yet"),
    assignees.map((m) => el("option", { value: m.username }, `${m.username} (${m.role})`)));
  assignee.value = draft.assignee || "";
  editorBox.replaceChildren(el("form", {
    class: "stacked area-form", "aria-label": draft.id ? "Edit the area" : "New area",
    onsubmit: (event) => { event.preventDefault(); saveDraft(name.value.trim(), assignee.value); },
  },
  el("h3", {}, draft.id ? `Edit ${draft.name || `area ${draft.id}`}` : "New area"),
  el("p", { class: "muted", id: "area-hint" }, editorHint()),
  el("label", {}, "Area name ", name),
  el("label", {}, "Assign to ", assignee),
  el("div", { class: "actions" },
    el("button", { type: "submit", class: "button" }, "Save area"), " ",
    el("button", { type: "button", class: "button secondary", onclick: () => closeDraft() }, "Cancel"))));
  name.focus();
}

function setDraftLayer(layer) {
  if (draft.layer) draft.layer.remove();
  draft.layer = layer.addTo(map);
  layer.pm.enable({ allowSelfIntersection: false, draggable: false, snappable: false });
  map.dragging.enable(); // the shape is there: a drag beside its handles pans again
  root.classList.remove("crosshair");
  const hint = $("area-hint");
  if (hint) hint.textContent = editorHint();
}

/** Start drawing a new area (``feature`` null) or editing one (API Feature). */
async function startDraft(feature) {
  closeDraft({ keepTool: true });
  draft = { id: feature ? feature.id : null, name: feature ? feature.properties.name : "", assignee: feature ? feature.properties.assignee : null, layer: null };
  if (state.tool !== "area") setTool("area");
  if (feature) {
    setDraftLayer(L.polygon(latLngsOf(feature.geometry), DRAFT_STYLE));
    await fitTo(draft.layer.getBounds()); // the form shows once the handles stand still
  } else {
    map.dragging.disable(); // the drag draws the rectangle
    root.classList.add("crosshair");
  }
  await showEditor();
}

/** Let go of the draft; back to the SAM2 tool unless ``keepTool``. */
function closeDraft({ keepTool = false } = {}) {
  const had = draft;
  draft = null;
  if (dragBox) dragBox.remove();
  dragStart = null;
  dragBox = null;
  if (had && had.layer) had.layer.remove();
  editorBox.replaceChildren();
  if (!keepTool && state.tool === "area") setTool("prompt");
}

async function saveDraft(name, assignee) {
  if (!draft) return;
  if (!draft.layer) return toast("Draw the area on the map first: drag a rectangle.", "error");
  const body = { name, assignee: assignee || null, geometry: draft.layer.toGeoJSON().geometry };
  if (!draft.id) body.image = imageId;
  const result = await api(draft.id ? `${base}${draft.id}/` : base, { method: draft.id ? "PATCH" : "POST", body });
  if (!result.ok) return toast(`Area not saved: ${errorText(result)}`, "error");
  const p = result.data.properties;
  closeDraft();
  await refresh();
  toast(`Area “${nameOf(result.data)}” saved, ${p.assignee ? `assigned to ${p.assignee}` : "assigned to nobody yet"}.`);
}

async function deleteArea(feature) {
  const confirmed = await confirmDialog({
    title: "Delete this area?",
    message: el("p", {}, el("strong", {}, nameOf(feature)),
      feature.properties.assignee ? ` and its assignment to ${feature.properties.assignee}` : "",
      " will be deleted. The annotations inside it stay."),
    confirmLabel: "Delete area",
  });
  if (!confirmed) return;
  const result = await api(`${base}${feature.id}/`, { method: "DELETE" });
  if (!result.ok) return toast(`Not deleted: ${errorText(result)}`, "error");
  if (draft && draft.id === feature.id) closeDraft();
  await refresh();
  toast(`Area “${nameOf(feature)}” deleted.`);
}

// The Area tool: a drag draws the rectangle of a new area (prompting.js ignores other tools).
map.on("mousedown", (e) => {
  if (state.tool !== "area" || !draft || draft.layer || e.originalEvent.button !== 0) return;
  dragStart = e;
});
map.on("mousemove", (e) => {
  if (!dragStart) return;
  if (!dragBox && dragStart.containerPoint.distanceTo(e.containerPoint) < MIN_DRAG_PX) return;
  const bounds = L.latLngBounds(dragStart.latlng, e.latlng);
  if (!dragBox) dragBox = L.rectangle(bounds, { ...DRAFT_STYLE, interactive: false }).addTo(map);
  else dragBox.setBounds(bounds);
});
map.on("mouseup", (e) => {
  if (!dragStart) return;
  const start = dragStart;
  dragStart = null;
  if (!dragBox || !draft) return;
  dragBox.remove();
  dragBox = null;
  const b = L.latLngBounds(start.latlng, e.latlng);
  setDraftLayer(L.polygon([b.getSouthWest(), b.getNorthWest(), b.getNorthEast(), b.getSouthEast()], DRAFT_STYLE));
});

onChange((what) => {
  if (what === "toolChosen") {
    if (state.tool === "area") {
      if (!mayManage) return setTool("prompt");
      if (!draft) return startDraft(null);
      if (!draft.layer) {
        map.dragging.disable(); // the drag draws the rectangle
        root.classList.add("crosshair");
      }
    } else if (draft) {
      closeDraft({ keepTool: true });
    }
  }
  // Annotations saved, submitted or deleted: the areas' figures follow.
  if (["selected", "updated", "deselected"].includes(what)) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, REFRESH_DELAY_MS);
  }
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && draft && !typingInField(event)) closeDraft();
});
