// The map tools: SAM2 prompt (clicks and boxes), manual polygon (Leaflet-Geoman), pan.
import { map } from "./layers.js";
import { state, transition } from "./state.js";

export const TOOLS = { prompt: "SAM2 prompt", pan: "pan", polygon: "manual polygon" };

export function setTool(name) {
  if (state.tool === "polygon" && name !== "polygon") map.pm.disableDraw();
  if (name === "polygon") map.pm.enableDraw("Polygon", { snappable: false, allowSelfIntersection: false });
  transition.toolChosen(name);
}

document.querySelectorAll("[data-tool]").forEach((b) => b.addEventListener("click", () => setTool(b.dataset.tool)));
