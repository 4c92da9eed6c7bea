// The map tools: SAM2 prompt (clicks and boxes), manual polygon (Leaflet-Geoman), pan; and the
// "prompt through" toggle (clicks land on top of existing polygons instead of selecting them).
// Viewers have only pan: the page hides the others (view.js) and refuses them here.
import { toast } from "../common.js";
import { map } from "./layers.js";
import { $, canCreate } from "./page.js";
import { state, transition } from "./state.js";

export const TOOLS = { prompt: "SAM2 prompt", pan: "pan", polygon: "manual polygon" };

export function setTool(name) {
  if (!canCreate && name !== "pan") return toast("Viewers can look and comment, not annotate.", "error");
  if (state.tool === "polygon" && name !== "polygon") map.pm.disableDraw();
  if (name === "polygon") map.pm.enableDraw("Polygon", { snappable: false, allowSelfIntersection: false });
  transition.toolChosen(name);
}

export function togglePromptThrough() {
  if (canCreate) transition.promptThroughSet(!state.promptThrough);
}

document.querySelectorAll("[data-tool]").forEach((b) => b.addEventListener("click", () => setTool(b.dataset.tool)));
$("prompt-through").addEventListener("click", togglePromptThrough);
