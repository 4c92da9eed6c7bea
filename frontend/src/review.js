// Review page: the queue from review/next, one annotation at a time zoomed to it, beside the
// filtered queue list with bulk approval (reviewqueue.js).
// A approves, R rejects with a required comment, E edits on the annotate page, N skips.
import { api, el, errorText, formatArea, toast, typingInField } from "./common.js";
import { L, annotationStyle, imageMap, latLngsOf, loadClasses, loadImage, showImage } from "./mapbase.js";
import { createQueue } from "./reviewqueue.js";
import { riskText } from "./risk.js";

const root = document.getElementById("map");
const projectId = Number(root.dataset.projectId);
const $ = (id) => document.getElementById(id);
const map = imageMap(root);
const neighbourLayer = L.geoJSON(null, { style: (f) => annotationStyle(f, classes, { fillOpacity: 0.1, weight: 1 }), interactive: false }).addTo(map);
const pinLayer = L.layerGroup().addTo(map);
let focusLayer = null;
let classes = [];
let item = null; // the annotation Feature under review
let imageLayers = {};
let shownImageId = null;
const skipped = new Set();
const queue = createQueue({ projectId, onOpen: (feature) => show(feature), onChange: () => show() });
const NEIGHBOUR_MARGIN_DEG = 0.001; // as the server's review/next: about 100 m around the annotation

async function nextItem() {
  const result = await api(`/api/v1/projects/${projectId}/review/next/?${queue.query()}`);
  if (!result.ok) throw new Error(errorText(result));
  const { annotation, neighbours, remaining } = result.data;
  if (!annotation || !skipped.has(annotation.id)) return { annotation, neighbours, remaining };
  // The oldest one was skipped: take the next one of the filtered queue not skipped.
  await queue.reload();
  const candidates = queue.items().filter((f) => !skipped.has(f.id));
  return { annotation: candidates[0] || null, neighbours: [], remaining, allSkipped: !candidates.length };
}

/** One annotation chosen in the queue list, with the live annotations around it. */
async function around(feature) {
  const b = L.polygon(latLngsOf(feature.geometry)).getBounds();
  const m = NEIGHBOUR_MARGIN_DEG;
  const bbox = [b.getWest() - m, b.getSouth() - m, b.getEast() + m, b.getNorth() + m].join(",");
  const result = await api(`/api/v1/projects/${projectId}/annotations/?image=${feature.properties.image}&bbox=${bbox}&page_size=200`);
  const neighbours = result.ok ? result.data.features.filter((f) => f.id !== feature.id) : [];
  return { annotation: feature, neighbours, remaining: queue.count() };
}

/** Each review button works only when the API allows its action on the annotation shown. */
function setButtons(actions) {
  for (const id of ["approve", "reject", "edit"]) $(id).disabled = !actions.includes(id);
  $("skip").disabled = !actions.length;
}

async function show(chosen) {
  if (!chosen) queue.reload();
  let next;
  try {
    next = chosen ? await around(chosen) : await nextItem();
  } catch (error) {
    $("queue-status").textContent = `Could not load the queue: ${error.message}`;
    return;
  }
  item = next.annotation;
  queue.markCurrent(item ? item.id : null);
  neighbourLayer.clearLayers();
  pinLayer.clearLayers();
  if (focusLayer) focusLayer.remove();
  if (!item) {
    $("queue-status").textContent = next.allSkipped && skipped.size
      ? `Only skipped annotations are left (${skipped.size}). Reload the page to see them again.`
      : queue.filtered() ? "Nothing to review under these filters; clear them to see the rest of the queue."
        : "Nothing to review: the queue is empty.";
    $("review-item").replaceChildren();
    $("comments").replaceChildren();
    root.dataset.annotationId = "";
    setButtons([]);
    return;
  }
  const p = item.properties;
  $("queue-status").textContent = `${next.remaining} annotation(s) waiting`;
  if (shownImageId !== p.image) {
    for (const layer of Object.values(imageLayers)) if (layer && layer.remove) layer.remove();
    imageLayers = { fitted: true };
    shownImageId = p.image;
    const image = await loadImage(p.image);
    showImage(map, image, imageLayers);
    $("image-status").textContent = `${image.name}`;
  }
  neighbourLayer.addData(next.neighbours || []);
  focusLayer = L.polygon(latLngsOf(item.geometry), { color: "#facc15", weight: 3, fillOpacity: 0.15, className: "review-focus" }).addTo(map);
  map.fitBounds(focusLayer.getBounds(), { padding: [80, 80], maxZoom: 19 });
  const facts = [
    ["Annotation", `#${item.id} (v${p.version})`], ["Label", p.label_class_name || "unlabelled"], ["Author", p.author],
    ["Source", p.source], ["Area", formatArea(p.area_m2)], ["Submitted", (p.submitted_at || "").slice(0, 16).replace("T", " ")],
    ["Risk", riskText(p)],
  ];
  $("review-item").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v || "–")]));
  setButtons(p.allowed_actions || []);
  root.dataset.annotationId = String(item.id);
  loadComments();
}

async function loadComments() {
  const result = await api(`/api/v1/projects/${projectId}/comments/?annotation=${item.id}`);
  const threads = result.ok ? (result.data.results || result.data) : [];
  $("comments").replaceChildren(...threads.flatMap((t) => t.comments.map((c) => el("li", {}, el("strong", {}, c.author), `: ${c.body}`))));
  if (!threads.length) $("comments").replaceChildren(el("li", { class: "muted" }, "No comments."));
  for (const t of threads) {
    const at = t.point ? L.latLng(t.point.coordinates[1], t.point.coordinates[0]) : focusLayer.getBounds().getCenter();
    const text = t.comments.map((c) => `${c.author}: ${c.body}`).join("\n");
    // An element, not a string: Leaflet puts string content in as HTML.
    const content = el("div", {}, ...t.comments.map((c) => el("div", {}, el("strong", {}, c.author), `: ${c.body}`)));
    L.marker(at, { keyboard: false, title: text, icon: L.divIcon({ className: "comment-dot", iconSize: [14, 14] }) })
      .bindTooltip(content, { permanent: true, className: "comment-pin", direction: "top" }).addTo(pinLayer);
  }
}

async function decide(action, comment) {
  if (!item) return;
  const body = { version: item.properties.version };
  if (comment !== undefined) body.comment = comment;
  const result = await api(`/api/v1/annotations/${item.id}/${action}/`, { method: "POST", body, ifMatch: item.properties.version });
  if (!result.ok) {
    toast(`${action === "approve" ? "Not approved" : "Not rejected"}: ${errorText(result)}`, "error");
    if (result.status === 409) show();
    return;
  }
  toast(`Annotation #${item.id} ${result.data.properties.state}.`);
  show();
}

const dialog = $("reject-dialog");
const comment = $("reject-comment");
function openReject() {
  if (!item) return;
  dialog.hidden = false;
  comment.value = "";
  comment.focus();
}
function closeReject() {
  dialog.hidden = true;
  root.focus();
}
$("reject-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = comment.value.trim();
  if (!text) { comment.reportValidity(); return; }
  closeReject();
  decide("reject", text);
});
$("reject-cancel").addEventListener("click", closeReject);
comment.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); $("reject-form").requestSubmit(); }
  if (event.key === "Escape") closeReject();
});

function edit() {
  if (item) location.href = `/images/${item.properties.image}/map/?annotation=${item.id}`;
}
function skip() {
  if (!item) return;
  skipped.add(item.id);
  show();
}

$("approve").addEventListener("click", () => decide("approve"));
$("reject").addEventListener("click", openReject);
$("edit").addEventListener("click", edit);
$("skip").addEventListener("click", skip);

document.addEventListener("keydown", (event) => {
  if (typingInField(event) || !dialog.hidden || event.ctrlKey || event.metaKey || event.altKey) return;
  if (document.querySelector("dialog[open]")) return; // a confirmation is open: its buttons decide
  const button = { a: "approve", r: "reject", e: "edit", n: "skip" }[event.key.toLowerCase()];
  if (button) { event.preventDefault(); if (!$(button).disabled) $(button).click(); }
});

loadClasses(projectId).then((c) => { classes = c; queue.loadChoices(c); show(); });
