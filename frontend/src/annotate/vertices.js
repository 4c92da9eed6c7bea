// Vertex handles for large outlines. Leaflet-Geoman puts one DOM marker (and one middle
// marker) on the map per vertex and tests self-intersection over the whole ring on every
// move (O(n²)): a SAM2 mask of a few thousand vertices froze Chromium for seconds. Above
// LARGE_OUTLINE_VERTICES the page edits with this instead:
//   - handles only for the vertices in view when they are few, else for those nearest the
//     pointer (at most MAX_HANDLES markers on the map at any time);
//   - a moved vertex is checked against the other edges in O(n), and goes back if its two
//     edges would cross the outline;
//   - only the moved vertex changes: every other vertex keeps its exact coordinates.
// Adding and removing vertices stay with Geoman, on outlines small enough for it.
import { L, map } from "./layers.js";

/** Above this many vertices the selected outline is edited with nearby handles. */
export const LARGE_OUTLINE_VERTICES = 500;
const MAX_HANDLES = 150;
const NEAR_PX = 160; // handles for vertices within this distance of the pointer (screen px)
const GAP_PX = 10; // handles closer than this would sit on each other: the nearer one is kept
const HANDLE_ICON = L.divIcon({ className: "marker-icon" }); // Geoman's look

let pointer = null; // the last pointer position on the map (LatLng), shared by every editor
map.on("mousemove", (e) => { pointer = e.latlng; });

/** The rings of a Leaflet polygon's latlngs (Polygon or MultiPolygon nesting), as arrays of LatLng. */
function ringsOf(latlngs) {
  if (!latlngs.length) return [];
  if (latlngs[0] instanceof L.LatLng) return [latlngs];
  return latlngs.flatMap(ringsOf);
}

/** How many vertices a Leaflet polygon has. */
export function vertexCount(layer) {
  return ringsOf(layer.getLatLngs()).reduce((n, ring) => n + ring.length, 0);
}

/** Whether segments p1-p2 and q1-q2 (points {x, y}) cross or touch. */
function segmentsMeet(p1, p2, q1, q2) {
  const side = (a, b, c) => Math.sign((b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x));
  const within = (a, b, c) => Math.min(a.x, b.x) <= c.x && c.x <= Math.max(a.x, b.x) && Math.min(a.y, b.y) <= c.y && c.y <= Math.max(a.y, b.y);
  const d1 = side(q1, q2, p1);
  const d2 = side(q1, q2, p2);
  const d3 = side(p1, p2, q1);
  const d4 = side(p1, p2, q2);
  if (d1 !== d2 && d3 !== d4 && d1 && d2 && d3 && d4) return true;
  return (!d1 && within(q1, q2, p1)) || (!d2 && within(q1, q2, p2)) || (!d3 && within(p1, p2, q1)) || (!d4 && within(p1, p2, q2));
}

/**
 * Edits the vertices of ``layer`` (an L.Polygon) with handles near the pointer.
 * ``onEdited()`` runs after a vertex was moved; ``onRefused(text)`` when a move was undone
 * because the outline would cross itself.
 */
export class NearbyVertices {
  constructor(layer, { onEdited, onRefused }) {
    this.layer = layer;
    this.onEdited = onEdited;
    this.onRefused = onRefused;
    this.group = L.layerGroup();
    this.handles = new Map(); // vertex key "ring:index" → marker
    this.dragging = null;
    this.frame = null;
    this.onMove = () => this.schedule();
    this.onZoom = () => { this.project(); this.schedule(); };
  }

  enable() {
    this.rings = ringsOf(this.layer.getLatLngs());
    this.group.addTo(map);
    map.on("mousemove moveend", this.onMove);
    map.on("zoomend", this.onZoom);
    this.project();
    this.refresh();
    return this;
  }

  disable() {
    map.off("mousemove moveend", this.onMove);
    map.off("zoomend", this.onZoom);
    if (this.frame) cancelAnimationFrame(this.frame);
    this.group.clearLayers();
    this.group.remove();
    this.handles.clear();
  }

  /** Every vertex in absolute pixels at the current zoom (flat arrays, ring by ring). */
  project() {
    const n = this.rings.reduce((sum, ring) => sum + ring.length, 0);
    this.xs = new Float64Array(n);
    this.ys = new Float64Array(n);
    this.keys = new Array(n);
    const zoom = map.getZoom();
    let k = 0;
    this.rings.forEach((ring, r) => ring.forEach((latlng, i) => {
      const p = map.project(latlng, zoom);
      this.xs[k] = p.x;
      this.ys[k] = p.y;
      this.keys[k] = [r, i];
      k += 1;
    }));
  }

  /** Refresh the handles at the next animation frame (pointer moves come faster than frames). */
  schedule() {
    if (this.frame || this.dragging) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.refresh();
    });
  }

  /** The vertices (flat indices) that get a handle now. */
  wanted() {
    const view = map.getPixelBounds();
    const inView = [];
    for (let k = 0; k < this.xs.length; k += 1) {
      const x = this.xs[k];
      const y = this.ys[k];
      if (x >= view.min.x && x <= view.max.x && y >= view.min.y && y <= view.max.y) {
        inView.push(k);
        if (inView.length > MAX_HANDLES) break;
      }
    }
    if (inView.length <= MAX_HANDLES || !pointer) return inView.length <= MAX_HANDLES ? inView : [];
    const at = map.project(pointer, map.getZoom());
    const near = [];
    for (let k = 0; k < this.xs.length; k += 1) {
      const d = Math.hypot(this.xs[k] - at.x, this.ys[k] - at.y);
      if (d <= NEAR_PX) near.push([d, k]);
    }
    near.sort((a, b) => a[0] - b[0]);
    // Dense outlines have many vertices per pixel: keep handles apart so each can be grabbed.
    const kept = [];
    for (const [, k] of near) {
      if (kept.some((j) => Math.abs(this.xs[j] - this.xs[k]) < GAP_PX && Math.abs(this.ys[j] - this.ys[k]) < GAP_PX)) continue;
      kept.push(k);
      if (kept.length === MAX_HANDLES) break;
    }
    return kept;
  }

  refresh() {
    const keep = new Set();
    for (const k of this.wanted()) {
      const [r, i] = this.keys[k];
      const key = `${r}:${i}`;
      keep.add(key);
      if (!this.handles.has(key)) this.handles.set(key, this.handle(r, i).addTo(this.group));
    }
    for (const [key, marker] of this.handles) {
      if (!keep.has(key) && marker !== this.dragging) {
        this.group.removeLayer(marker);
        this.handles.delete(key);
      }
    }
  }

  handle(r, i) {
    // The rings are looked up at each event: setLatLngs after a move makes new arrays.
    const marker = L.marker(this.rings[r][i], { draggable: true, icon: HANDLE_ICON, keyboard: false });
    let before = null;
    marker.on("dragstart", () => {
      this.dragging = marker;
      before = this.rings[r][i];
    });
    marker.on("drag", () => {
      this.rings[r][i] = marker.getLatLng();
      this.layer.redraw();
    });
    marker.on("dragend", () => {
      this.dragging = null;
      if (this.crosses(r, i)) {
        this.rings[r][i] = before;
        marker.setLatLng(before);
        this.layer.redraw();
        this.onRefused("That move would make the outline cross itself: the vertex went back.");
        return;
      }
      this.layer.setLatLngs(this.layer.getLatLngs()); // its bounds follow the new vertex
      this.rings = ringsOf(this.layer.getLatLngs());
      this.project();
      this.onEdited();
    });
    return marker;
  }

  /** Whether the two edges at vertex ``i`` of ring ``r`` meet any other edge of the outline. */
  crosses(r, i) {
    const ring = this.rings[r];
    const n = ring.length;
    const point = (latlng) => ({ x: latlng.lng, y: latlng.lat });
    const moved = point(ring[i]);
    const ends = [(i + n - 1) % n, (i + 1) % n];
    for (const [s, other] of this.rings.entries()) {
      const m = other.length;
      for (let j = 0; j < m; j += 1) {
        const j2 = (j + 1) % m;
        for (const end of ends) {
          // Edges that share a vertex with the moved edge meet there by construction.
          if (s === r && [i, end].some((v) => v === j || v === j2)) continue;
          if (segmentsMeet(moved, point(ring[end]), point(other[j]), point(other[j2]))) return true;
        }
      }
    }
    return false;
  }
}
