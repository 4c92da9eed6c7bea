// What the map shows besides the selected annotation: the annotations in view (a click
// selects one) and the assigned areas with their names.
import { api, el } from "../common.js";
import { L, annotationLayer, areaLabels, areaLayer, map } from "./layers.js";
import { $, imageId, projectId } from "./page.js";
import { onChange, state, transition } from "./state.js";
import { select } from "./editing.js";
import { clickPassesThrough } from "./prompting.js";

/** Load the annotations in the map's bounds (EPSG:4326), leaving the selected one out. */
export async function loadAnnotations() {
  const b = map.getBounds();
  const bbox = [Math.max(b.getWest(), -180), Math.max(b.getSouth(), -90), Math.min(b.getEast(), 180), Math.min(b.getNorth(), 90)];
  const result = await api(`/api/v1/projects/${projectId}/annotations/?image=${imageId}&bbox=${bbox.join(",")}&limit=1000`);
  if (!result.ok) return;
  annotationLayer.clearLayers();
  const visible = result.data.features.filter((f) => !state.current || f.id !== state.current.id);
  annotationLayer.addData(visible);
  annotationLayer.eachLayer((layer) => {
    layer.on("click", (e) => {
      if (clickPassesThrough(e.originalEvent)) return; // on to the map: a prompt or a vertex there
      L.DomEvent.stop(e);
      select(layer.feature);
    });
    const p = layer.feature.properties;
    // Elements, not strings: Leaflet puts string content in as HTML.
    layer.bindTooltip(el("span", {}, `#${layer.feature.id} ${p.label_class_name || "unlabelled"} · ${p.state}`), { sticky: true });
  });
  transition.annotationsLoaded(visible);
  $("annotation-count").textContent = `${result.data.count} annotation(s) in view`;
}

let areasAsked = 0;
let areasDrawn = "";

export async function loadAreas() {
  // Several callers reload the areas (the page's load, the areas panel); only the newest
  // answer is drawn, so an older one arriving late cannot leave its labels behind.
  const asked = ++areasAsked;
  const result = await api(`/api/v1/projects/${projectId}/areas/?image=${imageId}`);
  if (!result.ok || asked !== areasAsked) return;
  // The same areas again are left as drawn: Leaflet fades a removed label out, so redrawing
  // them would flicker, and for a moment show each label twice.
  const drawn = JSON.stringify(result.data);
  if (drawn === areasDrawn) return;
  areasDrawn = drawn;
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

// The selected annotation is drawn on its own: the layer of the others follows the selection.
onChange((what) => {
  if (what === "selected" || what === "deselected") loadAnnotations();
});
map.on("moveend", loadAnnotations);
