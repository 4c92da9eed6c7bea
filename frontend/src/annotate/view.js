// The panel and status bar, drawn from the state after each transition (text only: every
// name a user typed goes in as a text node).
import { el } from "../common.js";
import { map } from "./layers.js";
import { $, root } from "./page.js";
import { allows, keyClasses, onChange, state } from "./state.js";
import { TOOLS } from "./tools.js";
import { pickLabel } from "./editing.js";

function showTool() {
  $("tool-status").textContent = `Tool: ${TOOLS[state.tool]}`;
  document.querySelectorAll("[data-tool]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.tool === state.tool)));
  if (state.tool === "prompt") map.dragging.disable(); else map.dragging.enable();
  root.classList.toggle("crosshair", state.tool === "prompt");
}

function shownLabelId() {
  return state.current ? state.current.labelId : state.labelId;
}

function showLabel() {
  const cls = state.classes.find((c) => c.id === shownLabelId());
  $("label-status").replaceChildren("Label: ",
    cls ? el("span", { class: "swatch", style: `background:${cls.colour}` }) : "",
    cls ? cls.name : "none", cls && cls.archived ? " (archived)" : "");
  document.querySelectorAll("#classes li").forEach((li) => li.classList.toggle("active", Number(li.dataset.id) === shownLabelId()));
}

function showSelection() {
  const current = state.current;
  if (!current) {
    $("selection").textContent = state.preview ? "Preview ready: Enter accepts it." : "Nothing selected.";
    return;
  }
  $("selection").textContent = `Annotation #${current.id} · ${current.state} · v${current.version}` +
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
  labelPicked: [showLabel],
  promptCleared: [showSelection],
  segmented: [showSelection],
  previewDropped: [showSelection],
  selected: [showLabel, showSelection],
  updated: [showLabel, showSelection],
  theirsLoaded: [showSelection],
  deselected: [showLabel, showSelection],
};

onChange((what) => {
  for (const render of RENDER[what] || []) render();
});
showTool();
