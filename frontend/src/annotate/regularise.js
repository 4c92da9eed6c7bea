// "Regularise" on the selected annotation: the server squares its corners to the building's
// main orientation (90°, or 45° when asked) and saves it as a new version
// (POST /api/v1/projects/{id}/annotations/regularise/); the panel then shows how much the
// outline moved (IoU with the one before) and how far its corners are from the allowed
// angles. Undo brings the outline before back like any edit (saved as a further version).
// Shown only while the API allows editing the selected annotation.
import { api, el, errorText } from "../common.js";
import { adoptServerEdit, save } from "./editing.js";
import { $, projectId } from "./page.js";
import { allows, onChange, state } from "./state.js";

const button = el(
  "button",
  { type: "button", class: "button secondary", id: "regularise", title: "Square the corners of this building to its main orientation" },
  "Regularise",
);
const diagonal = el("input", { type: "checkbox", id: "regularise-45" });
const figures = el("p", { id: "regularise-figures", class: "muted", role: "status" });
const panel = el(
  "section",
  { id: "regularise-panel", class: "regularise-panel", "aria-label": "Regularise", hidden: true },
  el("div", { class: "regularise-row" }, button, el("label", { for: "regularise-45" }, diagonal, " allow 45° corners")),
  figures,
);
$("save-status").after(panel);
let figuresFor = null; // the annotation id the figures line speaks about

function figuresText(figure) {
  if (!figure.changed) return "Already regular: nothing changed.";
  const angle = figure.max_angle_deviation_deg < 0.005 ? "0.00" : figure.max_angle_deviation_deg.toFixed(2);
  return `Regularised (v${figure.version}): IoU ${figure.iou.toFixed(3)} with the outline before; ` +
    `corners within ${angle}° of the allowed angles; orientation ${figure.orientation_deg.toFixed(1)}°. Ctrl+Z undoes it.`;
}

async function regularise() {
  const current = state.current;
  if (!current || !allows("edit")) return;
  button.disabled = true;
  try {
    await save(); // a pending vertex edit first: the server regularises what the user sees
    if (state.current !== current || !allows("edit")) return;
    figures.textContent = "Regularising…";
    figuresFor = current.id;
    const body = { annotations: [{ id: current.id, version: current.version }], allow_45: diagonal.checked };
    const result = await api(`/api/v1/projects/${projectId}/annotations/regularise/`, { method: "POST", body });
    if (state.current !== current) return;
    if (!result.ok) {
      figures.textContent = `Not regularised: ${errorText(result)}`;
      return;
    }
    const figure = result.data.figures[0];
    if (figure.changed) adoptServerEdit(result.data.annotations[0]);
    figures.textContent = figuresText(figure);
  } finally {
    button.disabled = false;
  }
}
button.addEventListener("click", regularise);

onChange((what) => {
  if (!["selected", "updated", "deselected", "theirsLoaded"].includes(what)) return;
  panel.hidden = !allows("edit");
  if (!state.current || state.current.id !== figuresFor) {
    figures.textContent = "";
    figuresFor = null;
  }
});
