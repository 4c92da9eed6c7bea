// The annotate page's one state object. Modules read it freely but change it only through
// the named transitions below; each transition tells the listeners (the views) what changed.
import { canCreate } from "./page.js";

/**
 * @typedef {object} Current  the selected annotation, shown as an editable polygon
 * @property {number} id
 * @property {number} version  the version the next change names (If-Match)
 * @property {string} state  draft | submitted | approved | rejected
 * @property {string|null} author  username
 * @property {number|null} labelId
 * @property {number|undefined} areaM2  its area in m², as the server computed it for the saved geometry
 * @property {Set<string>} allowed  what the API says this user may do with it now
 *   ("edit", "submit", "approve", "reject", "delete", "comment"); empty when it says nothing
 * @property {object} layer  the Leaflet polygon on the map
 * @property {object} saved  the server's geometry (GeoJSON, EPSG:4326): a save sends only a change from it
 * @property {object} savedProperties  the server's properties (label_class, attributes...)
 * @property {object|null} lastGeometry  the geometry after the latest edit on the page
 * @property {object|null} theirs  someone else's newer version (Feature), after a stale save
 */

export const state = {
  image: null, // the image (API detail)
  classes: [], // the project's label classes, in key order
  labelId: null, // the label class new annotations get (number keys pick it)
  tool: canCreate ? "prompt" : "pan", // prompt | pan | polygon (viewers only pan)
  // Clicks, boxes and polygon vertices land on top of existing polygons instead of selecting
  // them (the toolbar's toggle; holding Shift does the same for one gesture).
  promptThrough: false,
  // SAM2 prompt in EPSG:4326 degrees: points {lat, lng, positive}, box {w, s, e, n} or null.
  prompt: { points: [], box: null },
  sessionId: null, // the segment endpoint's prompt session
  preview: null, // the last segment Feature (its polygon, before Enter accepts it)
  segmentsDone: 0, // segment answers shown (tests and the status bar use it)
  /** @type {Current|null} */
  current: null,
  visible: [], // annotation Features in view (the current one aside), for [ and ]
};

const listeners = [];

/** Call ``listener(what)`` after every transition; ``what`` is the transition's name. */
export function onChange(listener) {
  listeners.push(listener);
}

function changed(what) {
  for (const listener of listeners) listener(what);
}

/** The classes offered to new work, in the project's order: keys 1–9 pick them (archived ones
 * stay in ``state.classes`` for the annotations that have them, but are not offered). */
export function keyClasses() {
  return state.classes.filter((c) => !c.archived).slice(0, 9);
}

/** Whether the API allows ``action`` on the selected annotation now. */
export function allows(action) {
  return Boolean(state.current && state.current.allowed.has(action));
}

function allowedOf(properties) {
  return new Set(Array.isArray(properties.allowed_actions) ? properties.allowed_actions : []);
}

function copyPrompt(prompt) {
  return { points: prompt.points.map((p) => ({ ...p })), box: prompt.box ? { ...prompt.box } : null };
}

export const transition = {
  imageLoaded(image) {
    state.image = image;
    changed("imageLoaded");
  },
  classesLoaded(classes) {
    state.classes = classes;
    changed("classesLoaded");
  },
  toolChosen(tool) {
    state.tool = tool;
    changed("toolChosen");
  },
  /** New annotations get ``labelId``; the selected one too when the user may edit it. */
  labelPicked(labelId) {
    state.labelId = labelId;
    if (allows("edit")) state.current.labelId = labelId;
    changed("labelPicked");
  },
  promptSet(prompt) {
    state.prompt = copyPrompt(prompt);
    changed("promptSet");
  },
  promptCleared() {
    state.prompt = { points: [], box: null };
    state.preview = null;
    state.sessionId = null;
    changed("promptCleared");
  },
  /** The segment endpoint answered ``feature`` (null: it failed, or nothing to segment). */
  segmented(feature) {
    state.segmentsDone += 1;
    state.preview = feature;
    if (feature && feature.properties && feature.properties.session_id) state.sessionId = feature.properties.session_id;
    changed("segmented");
  },
  previewDropped() {
    state.preview = null;
    changed("previewDropped");
  },
  /** ``feature`` (API Feature) becomes the selected annotation, drawn as ``layer``. */
  selected(feature, layer) {
    const p = feature.properties;
    state.current = {
      id: feature.id, version: p.version, state: p.state, author: p.author, labelId: p.label_class,
      areaM2: p.area_m2, allowed: allowedOf(p), layer, saved: feature.geometry, savedProperties: p, lastGeometry: null, theirs: null,
    };
    changed("selected");
  },
  /** The server's answer to a change of the selected annotation (API Feature). */
  updated(feature) {
    const p = feature.properties;
    Object.assign(state.current, {
      version: p.version, state: p.state, labelId: p.label_class, saved: feature.geometry, savedProperties: p,
      allowed: allowedOf(p),
      areaM2: p.area_m2,
    });
    changed("updated");
  },
  edited(geometry) {
    state.current.lastGeometry = geometry;
    changed("edited");
  },
  /** Someone else's newer version (API Feature) after a stale save: the next save names it and
   * sends what differs from it. */
  theirsLoaded(feature) {
    const p = feature.properties;
    Object.assign(state.current, {
      version: p.version, state: p.state, allowed: allowedOf(p), theirs: feature, saved: feature.geometry, savedProperties: p,
    });
    changed("theirsLoaded");
  },
  promptThroughSet(on) {
    state.promptThrough = on;
    changed("promptThroughSet");
  },
  deselected() {
    state.current = null;
    changed("deselected");
  },
  annotationsLoaded(features) {
    state.visible = features;
    changed("annotationsLoaded");
  },
};
