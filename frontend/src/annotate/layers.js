// The annotate page's map and its layers, bottom to top (all GeoJSON in EPSG:4326).
import L from "../leaflet-global.js";
import "@geoman-io/leaflet-geoman-free";
import { annotationStyle, imageMap } from "../mapbase.js";
import { root } from "./page.js";
import { state } from "./state.js";

export const map = imageMap(root, { doubleClickZoom: false });
map.pm.setGlobalOptions({ allowSelfIntersection: false, snappable: false });
map.pm.setLang("en");

/** The image's tiles and footprint, once shown (see mapbase.showImage). */
export const imageLayers = {};
/** Annotations in view, the selected one aside: fill by label class, outline by state. */
export const annotationLayer = L.geoJSON(null, { style: (f) => annotationStyle(f, state.classes) }).addTo(map);
/** Assigned areas: outlines only, no mouse events (a click inside one prompts SAM2). */
export const areaLayer = L.geoJSON(null, {
  style: { color: "#f97316", weight: 2, dashArray: "8 6", fill: false }, interactive: false,
}).addTo(map);
/** Each area's name and assignee, at its north-west corner. */
export const areaLabels = L.layerGroup().addTo(map);
/** The SAM2 prompt: points and box. */
export const promptLayer = L.layerGroup().addTo(map);
/** The segment endpoint's last polygon, before Enter accepts it. */
export const previewLayer = L.geoJSON(null, {
  style: { color: "#22d3ee", weight: 2, dashArray: "3 3", fillColor: "#22d3ee", fillOpacity: 0.25 }, interactive: false,
}).addTo(map);
/** Someone else's newer version of the selected annotation, after a stale save. */
export const theirsLayer = L.geoJSON(null, {
  style: { color: "#a855f7", weight: 2, dashArray: "2 4", fill: false }, interactive: false,
}).addTo(map);

/** The style of the selected annotation's own polygon (it sits on the map, above the rest). */
export const CURRENT_STYLE = { color: "#facc15", weight: 3, fillOpacity: 0.15, className: "current-annotation" };

export { L };
