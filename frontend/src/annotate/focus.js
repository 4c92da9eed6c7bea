// Encode where the annotator looks: while the image is not fully encoded, the page reports
// its view (POST /api/v1/images/{id}/encode-focus/, at most every FOCUS_MS after a move,
// and every HEARTBEAT_MS while it stays, since the server forgets a view after two minutes)
// and shows how much of it, and of the whole image, SAM2 has encoded.
import { api } from "../common.js";
import { map } from "./layers.js";
import { $, canCreate, imageId } from "./page.js";
import { onChange, state } from "./state.js";

const FOCUS_MS = 1500;
const HEARTBEAT_MS = 30000;
const statusEl = $("encode-status");
let timer = null;
let last = 0;

function encoding() {
  const image = state.image;
  return Boolean(canCreate && image && ["ready", "encoding"].includes(image.status));
}

async function report() {
  clearTimeout(timer);
  if (!encoding()) {
    statusEl.hidden = true;
    return;
  }
  last = Date.now();
  const b = map.getBounds();
  const result = await api(`/api/v1/images/${imageId}/encode-focus/`, {
    method: "POST", body: { bbox: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()] },
  });
  if (result.ok) {
    const r = result.data;
    statusEl.textContent = `SAM2 ready here: ${r.ready}/${r.windows} windows · whole image ${r.image_encoded}/${r.image_windows}`;
    statusEl.dataset.ready = String(r.windows > 0 && r.ready === r.windows);
    statusEl.hidden = false;
  }
  timer = setTimeout(report, HEARTBEAT_MS);
}

/** A move: report now, or when FOCUS_MS have passed since the last report. */
function schedule() {
  clearTimeout(timer);
  timer = setTimeout(report, Math.max(0, FOCUS_MS - (Date.now() - last)));
}

map.on("moveend", schedule);
// The first image load starts the reports; later polls of the image do not add any. A
// segment answer means windows were just encoded for it: the counts are read again at once
// rather than at the next heartbeat (a polygon beside "0 windows ready" reads as a fault).
onChange((what) => {
  if (what === "imageLoaded" && !last) schedule();
  if (what === "segmented" && last) schedule();
});
