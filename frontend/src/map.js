// The first map page: one image from the tiler, its footprint, and live ingest status.
import L from "leaflet";

const root = document.getElementById("map");
const imageUrl = root.dataset.imageUrl;
const statusEl = document.getElementById("image-status");

const map = L.map(root, { zoomSnap: 0.25 });
map.setView([0, 0], 2);
let tileLayer = null;
let footprint = null;

function showImage(image) {
  statusEl.textContent = `${image.name}: ${image.status}` +
    (image.job && image.job.status !== "succeeded" ? ` (${image.job.kind} ${Math.round(image.job.progress * 100)}%)` : "") +
    (image.error ? ` — ${image.error}` : "");
  if (image.bounds && !footprint) {
    const [w, s, e, n] = image.bounds;
    map.fitBounds([[s, w], [n, e]]);
    footprint = L.geoJSON(image.footprint, { style: { color: "#1f6feb", weight: 1, fill: false } }).addTo(map);
  }
  if (image.tiles && !tileLayer) {
    tileLayer = L.tileLayer(image.tiles.url_template, {
      tileSize: image.tiles.tile_size, maxZoom: image.tiles.max_zoom, maxNativeZoom: 20,
      attribution: "imagery: project upload",
    }).addTo(map);
    tileLayer.getContainer().dataset.testid = "image-tiles";
  }
  return image.status === "ready" || image.status === "encoded" || image.status === "failed";
}

async function poll() {
  const response = await fetch(imageUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) {
    statusEl.textContent = `Could not load the image (${response.status}).`;
    return;
  }
  const done = showImage(await response.json());
  if (!done) setTimeout(poll, 1500);
}

poll();
