// The annotate page's legend and layer controls: what an outline's colour (review state) and a
// fill's colour (label class) mean, with a switch per state and per class to show or hide
// those annotations, the annotations' opacity, and the imagery on or off. The choices are
// kept for the browser tab, so the next image opens with the same layers.
import { STATE_COLOURS, el } from "../common.js";
import { annotationStyle } from "../mapbase.js";
import { annotationLayer, imageLayers, map } from "./layers.js";
import { $, projectId } from "./page.js";
import { onChange, state } from "./state.js";

const STATES = ["draft", "submitted", "approved", "rejected"];
const UNLABELLED = "none"; // the key of annotations without a class
const STORE_KEY = `geoprompt.layers.${projectId}`;
const DEFAULTS = { hiddenStates: [], hiddenClasses: [], opacity: 100, imagery: true };

const controls = restore();

function restore() {
  try {
    return { ...DEFAULTS, ...JSON.parse(sessionStorage.getItem(STORE_KEY) || "{}") };
  } catch {
    return { ...DEFAULTS };
  }
}

function keep() {
  try { sessionStorage.setItem(STORE_KEY, JSON.stringify(controls)); } catch { /* storage disabled: not kept */ }
}

function classKey(properties) {
  return properties.label_class === null || properties.label_class === undefined ? UNLABELLED : String(properties.label_class);
}

/** Whether an annotation (API Feature) is shown under the current switches. */
export function shown(feature) {
  const p = feature.properties;
  return !controls.hiddenStates.includes(p.state) && !controls.hiddenClasses.includes(classKey(p));
}

/** Apply the switches and the opacity to the annotations in view (the selected one is always shown). */
function applyToAnnotations() {
  const factor = controls.opacity / 100;
  annotationLayer.eachLayer((layer) => {
    if (!shown(layer.feature)) {
      if (map.hasLayer(layer)) map.removeLayer(layer);
      return;
    }
    if (!map.hasLayer(layer)) layer.addTo(map);
    const style = annotationStyle(layer.feature, state.classes);
    layer.setStyle({ opacity: (style.opacity ?? 1) * factor, fillOpacity: (style.fillOpacity ?? 0.3) * factor });
  });
}

function applyImagery() {
  const tiles = imageLayers.tiles;
  if (!tiles) return;
  if (controls.imagery && !map.hasLayer(tiles)) {
    tiles.addTo(map);
    tiles.bringToBack();
    // Leaflet makes a new container on each add: it keeps the name the page gave the first.
    tiles.getContainer().dataset.testid = "image-tiles";
  } else if (!controls.imagery && map.hasLayer(tiles)) {
    map.removeLayer(tiles);
  }
}

function toggle(listName, key, on) {
  const rest = controls[listName].filter((k) => k !== key);
  controls[listName] = on ? rest : [...rest, key];
  keep();
  applyToAnnotations();
}

// --- drawing (class names go in as text nodes) -------------------------------------------
const section = $("legend");

function switchRow(id, checked, onchange, sample, text) {
  return el("li", {}, el("label", { for: id },
    el("input", { type: "checkbox", id, checked, onchange: (e) => onchange(e.target.checked) }), sample, text));
}

function outlineSample(s) {
  const style = annotationStyle({ properties: { state: s } }, []);
  return el("span", { class: "outline-sample", style: `border-top:${style.weight}px ${style.dashArray ? "dashed" : "solid"} ${STATE_COLOURS[s]}` });
}

function render() {
  const classRows = [
    ...state.classes.map((c) => ({ key: String(c.id), name: c.name, colour: c.colour })),
    { key: UNLABELLED, name: "unlabelled", colour: annotationStyle({ properties: {} }, []).fillColor },
  ];
  const opacity = el("input", {
    type: "range", id: "layer-opacity", min: "0", max: "100", step: "5", value: String(controls.opacity),
    oninput: (e) => { controls.opacity = Number(e.target.value); keep(); applyToAnnotations(); },
  });
  section.replaceChildren(el("details", { open: true },
    el("summary", {}, el("h2", { id: "legend-h" }, "Legend and layers")),
    el("p", { class: "muted" }, "Outline colour: review state. Fill colour: label class. Untick to hide."),
    el("h3", {}, "Outline: state"),
    el("ul", { class: "legend-rows", id: "legend-states" }, ...STATES.map((s) => switchRow(
      `layer-state-${s}`, !controls.hiddenStates.includes(s), (on) => toggle("hiddenStates", s, on), outlineSample(s), s))),
    el("h3", {}, "Fill: class"),
    el("ul", { class: "legend-rows", id: "legend-classes" }, ...classRows.map((c) => switchRow(
      `layer-class-${c.key}`, !controls.hiddenClasses.includes(c.key), (on) => toggle("hiddenClasses", c.key, on),
      el("span", { class: "swatch", style: `background:${c.colour}` }), c.name))),
    el("h3", {}, "Other outlines"),
    el("ul", { class: "legend-rows legend-others" },
      el("li", {}, el("span", { class: "outline-sample", style: "border-top:3px solid #facc15" }), "selected"),
      el("li", {}, el("span", { class: "outline-sample", style: "border-top:2px dashed #22d3ee" }), "SAM2 preview"),
      el("li", {}, el("span", { class: "outline-sample", style: "border-top:2px dashed #f97316" }), "assigned area"),
      el("li", {}, el("span", { class: "outline-sample", style: "border-top:1.5px dashed #facc15" }), "image edge")),
    el("label", { class: "legend-opacity", for: "layer-opacity" }, "Annotation opacity ", opacity),
    el("ul", { class: "legend-rows" }, switchRow("layer-imagery", controls.imagery, (on) => {
      controls.imagery = on;
      keep();
      applyImagery();
    }, "", "imagery"))));
}

onChange((what) => {
  if (what === "classesLoaded") render();
  if (what === "annotationsLoaded" || what === "classesLoaded") applyToAnnotations();
  // The page adds the tiles right after this transition, once the image has a COG.
  if (what === "imageLoaded") queueMicrotask(applyImagery);
});
render();
