// The panel and status bar, drawn from the state after each transition (text only: every
// name a user typed goes in as a text node).
import { el, formatArea } from "../common.js";
import { map } from "./layers.js";
import { $, canCreate, root } from "./page.js";
import { allows, keyClasses, onChange, state } from "./state.js";
import { TOOLS } from "./tools.js";
import { pickLabel } from "./editing.js";

function showTool() {
  $("tool-status").textContent = `Tool: ${TOOLS[state.tool]}${state.promptThrough ? " · on top" : ""}`;
  document.querySelectorAll("[data-tool]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.tool === state.tool)));
  $("prompt-through").setAttribute("aria-pressed", String(state.promptThrough));
  if (state.tool === "prompt") map.dragging.disable(); else map.dragging.enable();
  root.classList.toggle("crosshair", state.tool === "prompt");
  root.classList.toggle("prompt-through", state.promptThrough);
}

/** Messages about the last save belong to the selection they were about. */
function clearSaveStatus() {
  $("save-status").textContent = "";
}

function shownLabelId() {
  return state.current ? state.current.labelId : state.labelId;
}

/** Label buttons work when a new annotation would get the label, or the selected one may change. */
function labelsUsable() {
  return canCreate && (!state.current || allows("edit"));
}

function showLabel() {
  const cls = state.classes.find((c) => c.id === shownLabelId());
  $("label-status").replaceChildren("Label: ",
    cls ? el("span", { class: "swatch", style: `background:${cls.colour}` }) : "",
    cls ? cls.name : "none", cls && cls.archived ? " (archived)" : "");
  document.querySelectorAll("#classes li").forEach((li) => li.classList.toggle("active", Number(li.dataset.id) === shownLabelId()));
  document.querySelectorAll("#classes button").forEach((b) => { b.disabled = !labelsUsable(); });
}

function showSelection() {
  const current = state.current;
  if (!current) {
    const previewArea = state.preview && state.preview.properties ? formatArea(state.preview.properties.area_m2) : "";
    $("selection").textContent = state.preview
      ? `Preview ready${previewArea ? ` (${previewArea})` : ""}: Enter accepts it.` : "Nothing selected.";
    return;
  }
  $("selection").textContent = `Annotation #${current.id} · ${current.state} · v${current.version}` +
    (current.areaM2 !== undefined && current.areaM2 !== null ? ` · ${formatArea(current.areaM2)}` : "") +
    (current.author ? ` · by ${current.author}` : "") + (allows("edit") ? "" : " · read only");
}

function renderClasses() {
  $("classes").replaceChildren(...keyClasses().map((c, i) => el("li", { dataset: { id: c.id } },
    el("button", { type: "button", class: "link", onclick: () => pickLabel(i) },
      el("kbd", {}, String(i + 1)), " ", el("span", { class: "swatch", style: `background:${c.colour}` }), " ", c.name))));
  showLabel();
}

function showImageStatus() {
  const { image } = state;
  const job = image.job;
  const running = job && ["queued", "running"].includes(job.status);
  const status = $("image-status");
  status.textContent = `${image.name}: ${image.status}` +
    (running ? ` (${job.kind} ${Math.round(job.progress * 100)}%)` : "") + (image.error ? ` — ${image.error}` : "");
  status.dataset.status = image.status;
  const enc = image.encoding;
  if (enc) $("model-status").textContent = `Model: ${enc.model}`;
  $("untrained-banner").hidden = !(enc && enc.untrained);
}

const RENDER = {
  imageLoaded: [showImageStatus],
  classesLoaded: [renderClasses],
  toolChosen: [showTool],
  promptThroughSet: [showTool],
  labelPicked: [showLabel],
  promptCleared: [showSelection],
  segmented: [showSelection],
  previewDropped: [showSelection],
  selected: [showLabel, showSelection, clearSaveStatus],
  updated: [showLabel, showSelection],
  theirsLoaded: [showSelection],
  deselected: [showLabel, showSelection, clearSaveStatus],
};

onChange((what) => {
  for (const render of RENDER[what] || []) render();
});
// Viewers only look (and pan): the tools they cannot use are not shown.
if (!canCreate) {
  document.querySelector(".toolbar[aria-label=Tools]").hidden = true;
  root.setAttribute("aria-label", "Image map (read only)");
}
showTool();
