// What the annotate and review maps share: the image's tiles and footprint, annotation styles.
import L from "./leaflet-global.js";
import { STATE_COLOURS, api, errorText } from "./common.js";

/** A Leaflet map for one image: tiles from the tiler (the image's stretch) and the footprint. */
export function imageMap(container, options = {}) {
  const map = L.map(container, { zoomSnap: 0.25, keyboard: true, boxZoom: false, ...options });
  map.setView([0, 0], 2);
  map.attributionControl.setPrefix(false);
  return map;
}

/** Show an image (API detail) on ``map``: fit to its bounds once, add tiles once there is a COG. */
export function showImage(map, image, layers = {}) {
  if (image.bounds && !layers.footprint) {
    const [w, s, e, n] = image.bounds;
    // RFC 7946 gives west > east for an image across the antimeridian; Leaflet wants east past 180.
    if (!layers.fitted) map.fitBounds([[s, w], [n, e < w ? e + 360 : e]]);
    layers.fitted = true;
    layers.footprint = L.geoJSON(image.footprint, {
      style: { color: "#facc15", weight: 1.5, fill: false, dashArray: "6 4" }, interactive: false,
    }).addTo(map);
  }
  if (image.tiles && !layers.tiles) {
    layers.tiles = L.tileLayer(image.tiles.url_template, {
      tileSize: image.tiles.tile_size, maxZoom: image.tiles.max_zoom, maxNativeZoom: 20,
      attribution: "imagery: project upload",
    }).addTo(map);
    layers.tiles.getContainer().dataset.testid = "image-tiles";
    layers.tiles.bringToBack();
  }
  return layers;
}

/** Show the image's tiles from a new URL (a new token: the bands or stretch changed). */
export function replaceTiles(map, image, layers) {
  const tiles = layers.tiles;
  if (!tiles || !image.tiles) return;
  // Re-added rather than redrawn: Leaflet 1.9's redraw() asks for tiles at a fractional z
  // when the map's zoom is fractional (zoomSnap 0.25), which the tiler refuses.
  tiles.setUrl(image.tiles.url_template, true);
  tiles.remove().addTo(map);
  tiles.getContainer().dataset.testid = "image-tiles";
  tiles.bringToBack();
}

export async function loadImage(imageId) {
  const result = await api(`/api/v1/images/${imageId}/`);
  if (!result.ok) throw new Error(errorText(result));
  return result.data;
}

export async function loadClasses(projectId) {
  const result = await api(`/api/v1/projects/${projectId}/label-classes/`);
  return result.ok ? (result.data.results || result.data) : [];
}

/** Fill by label class, outline by review state. */
export function annotationStyle(feature, classes, extra = {}) {
  const p = feature.properties || {};
  const cls = classes.find((c) => c.id === p.label_class);
  return {
    color: STATE_COLOURS[p.state] || "#6b7280",
    weight: p.state === "approved" ? 3 : 2,
    dashArray: p.state === "draft" ? "5 4" : null,
    fillColor: cls ? cls.colour : "#9ca3af",
    fillOpacity: 0.3,
    ...extra,
  };
}

/** Leaflet latlngs of a GeoJSON Polygon / MultiPolygon geometry. */
export function latLngsOf(geometry) {
  return L.GeoJSON.coordsToLatLngs(geometry.coordinates, geometry.type === "Polygon" ? 1 : 2);
}

export { L };
