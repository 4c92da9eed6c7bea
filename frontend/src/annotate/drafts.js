// Drafts on the annotate page (reviewers and owners): start a SAM2 drafting run over the
// whole image, an assigned area or a drawn polygon ("segment everything", or "find similar"
// to a class), watch its job, see the run's drafts as their own layer, step through them in
// risk order with the review keys (N next, A approve, R reject with a reason), and decide the
// confident ones at once by risk after a count preview (review/bulk-by-risk). ``?run=ID``
// opens the page on a run. The runs come from POST/GET images/{id}/draft-runs/ and
// draft-runs/{id}/; the drafts from the review queue (its ``run`` filter, ``order=risk``).
import { api, el, errorText, toast } from "../common.js";
import { confirmDialog, plural } from "../dialogs.js";
import { riskText } from "../risk.js";
import { focus } from "./editing.js";
import { L, map } from "./layers.js";
import { loadAnnotations } from "./overlays.js";
import { $, imageId, projectId, root } from "./page.js";
import { onChange, state } from "./state.js";
import { setTool } from "./tools.js";

export const mayReviewDrafts = ["owner", "reviewer"].includes(root.dataset.role);
const panel = $("drafts-panel");
const POLL_MS = 1500;
const QUEUE_PAGE = 500;
const FINISHED = ["succeeded", "failed", "cancelled"];
// SAM2AutomaticMaskGenerator's names and defaults, and find-similar's threshold.
const PARAMS = [
  { name: "points_per_side", label: "Points per side (per 1024 px window)", value: 32, min: 1, max: 128, step: 1 },
  { name: "pred_iou_thresh", label: "Predicted IoU at least", value: 0.8, min: 0, max: 1, step: 0.01 },
  { name: "stability_score_thresh", label: "Stability at least", value: 0.95, min: 0, max: 1, step: 0.01 },
  { name: "max_drafts", label: "At most this many drafts", value: 500, min: 1, max: 5000, step: 1 },
  { name: "similarity_threshold", label: "Similarity at least (find similar)", value: 0.7, min: 0, max: 1, step: 0.01, similar: true },
];
/** Drafts of the open run: dashed magenta outlines above the other annotations (no clicks: those select). */
export const draftLayer = L.geoJSON(null, {
  style: { color: "#d946ef", weight: 2, dashArray: "5 4", fillColor: "#f0abfc", fillOpacity: 0.12, className: "run-draft" },
  interactive: false,
}).addTo(map);

let runId = Number(new URLSearchParams(location.search).get("run")) || null;
let drafts = []; // the open run's drafts on this image (API Features), riskiest first
let drawnArea = null; // a polygon drawn for the next run (Leaflet layer)
let drawing = false;
let pollTimer = null;
let previewed = null; // the last bulk preview's request body, while the inputs still say the same

const startBox = el("div", { id: "draft-start" });
const runsBox = el("div", { id: "draft-runs-box" });
const jobBox = el("p", { id: "draft-job", class: "muted", role: "status" });
const runBox = el("div", { id: "draft-run" });

// --- starting a run -----------------------------------------------------------------------

function numberInput(p) {
  return el("input", { type: "number", id: `draft-${p.name}`, name: p.name, value: String(p.value), min: String(p.min), max: String(p.max), step: String(p.step) });
}

async function renderStart() {
  const [classes, areas] = [state.classes.filter((c) => !c.archived), await api(`/api/v1/projects/${projectId}/areas/?image=${imageId}`)];
  const kind = el("select", { id: "draft-kind", name: "kind" },
    el("option", { value: "everything" }, "Segment everything"), el("option", { value: "similar" }, "Find similar to a class"));
  const labelClass = el("select", { id: "draft-class", name: "label_class" }, classes.map((c) => el("option", { value: String(c.id) }, c.name)));
  const area = el("select", { id: "draft-area", name: "area" },
    el("option", { value: "image" }, "The whole image"), el("option", { value: "drawn" }, "A polygon I draw"),
    (areas.ok ? areas.data.features : []).map((a) => el("option", { value: `area:${a.id}` }, `Area: ${a.properties.name || `area ${a.id}`}`)));
  const drawButton = el("button", { type: "button", class: "button secondary", id: "draft-draw", hidden: true, onclick: drawPolygon }, "Draw the polygon");
  const params = PARAMS.map((p) => el("label", { class: p.similar ? "similar-only" : null }, p.label, " ", numberInput(p)));
  const form = el("form", { class: "stacked drafts-form", "aria-label": "Start a drafting run", onsubmit: (e) => { e.preventDefault(); startRun(form); } },
    el("label", {}, "Kind ", kind),
    el("label", { class: "similar-only" }, "Class ", labelClass),
    el("label", {}, "Area ", area), drawButton,
    el("details", {}, el("summary", {}, "Parameters"), params),
    el("button", { type: "submit", class: "button", id: "draft-start-run" }, "Start run"));
  const showKind = () => form.querySelectorAll(".similar-only").forEach((n) => { n.hidden = kind.value !== "similar"; });
  kind.addEventListener("change", showKind);
  area.addEventListener("change", () => { drawButton.hidden = area.value !== "drawn"; if (area.value !== "drawn") clearDrawn(); });
  showKind();
  startBox.replaceChildren(form);
}

function clearDrawn() {
  if (drawnArea) drawnArea.remove();
  drawnArea = null;
}

/** Draw the run's area with Geoman (the SAM2 tool is off meanwhile, so clicks are vertices). */
function drawPolygon() {
  clearDrawn();
  drawing = true;
  setTool("pan");
  map.pm.enableDraw("Polygon", { snappable: false, allowSelfIntersection: false, pathOptions: { draftsArea: true, color: "#d946ef", dashArray: "2 6", fill: false } });
  jobBox.textContent = "Click the polygon's corners on the map; click the first one again to close it.";
}

map.on("pm:create", (e) => {
  if (!drawing || !e.layer.options.draftsArea) return;
  drawing = false;
  drawnArea = e.layer;
  setTool("prompt");
  jobBox.textContent = "The polygon is the run's area.";
});

function areaOf(form) {
  const value = form.elements.area.value;
  if (value === "drawn") {
    if (!drawnArea) return { error: "Draw the polygon first." };
    return { area: drawnArea.toGeoJSON().geometry };
  }
  if (value.startsWith("area:")) return { assignment: Number(value.slice(5)) };
  return {};
}

async function startRun(form) {
  const where = areaOf(form);
  if (where.error) return toast(where.error, "error");
  const kind = form.elements.kind.value;
  const params = Object.fromEntries(PARAMS.filter((p) => !p.similar || kind === "similar").map((p) => [p.name, Number(form.elements[p.name].value)]));
  const body = { kind, params, ...where };
  if (kind === "similar") body.label_class = Number(form.elements.label_class.value);
  const result = await api(`/api/v1/images/${imageId}/draft-runs/`, { method: "POST", body });
  if (!result.ok) return toast(`Run not started: ${errorText(result)}`, "error");
  clearDrawn();
  runId = result.data.id;
  showJob(result.data.job);
  poll();
  renderRuns();
}

function showJob(job) {
  if (!job) return;
  const progress = job.progress !== undefined && job.progress !== null ? ` ${Math.round(job.progress * 100)}%` : "";
  jobBox.textContent = `Run #${runId}: ${job.status}${progress}${job.message ? ` · ${job.message}` : ""}${job.error ? ` · ${job.error}` : ""}`;
  jobBox.dataset.status = job.status;
}

/** The run's job state, then its drafts; again every POLL_MS while the job runs. */
async function poll() {
  clearTimeout(pollTimer);
  const result = await api(`/api/v1/draft-runs/${runId}/`);
  const job = result.ok ? result.data.job : null;
  if (job) showJob(job);
  await loadRun();
  if (job && !FINISHED.includes(job.status)) pollTimer = setTimeout(poll, POLL_MS);
}

/** Earlier runs of this image, to open one (none listed where the server has no drafting runs). */
async function renderRuns() {
  const result = await api(`/api/v1/images/${imageId}/draft-runs/`);
  const runs = result.ok ? (result.data.results || result.data.features || result.data) : [];
  if (!Array.isArray(runs) || !runs.length) { runsBox.replaceChildren(); return; }
  const pick = el("select", { id: "draft-runs", "aria-label": "Open a run" },
    el("option", { value: "" }, "Open an earlier run…"),
    runs.map((r) => el("option", { value: String(r.id) }, `#${r.id} ${r.kind || ""} · ${r.job ? r.job.status : ""}`)));
  pick.addEventListener("change", () => { if (pick.value) { runId = Number(pick.value); poll(); } });
  runsBox.replaceChildren(pick);
}

// --- the open run: its drafts in risk order ---------------------------------------------------

async function loadRun() {
  if (!runId) return;
  const result = await api(`/api/v1/projects/${projectId}/review/queue/?run=${runId}&image=${imageId}&order=risk&page_size=${QUEUE_PAGE}`);
  if (!result.ok) return toast(`Run #${runId}: ${errorText(result)}`, "error");
  drafts = result.data.features;
  draftLayer.clearLayers();
  draftLayer.addData(drafts);
  renderRun(result.data.count);
}

function draftItem(f, i) {
  const p = f.properties;
  return el("li", { dataset: { annotationId: f.id }, class: state.current && state.current.id === f.id ? "active" : null },
    el("span", { class: "queue-item" },
      el("button", { type: "button", class: "link", onclick: () => focus(f.id) }, `${i + 1}. #${f.id} ${p.label_class_name || "unlabelled"} · ${p.state}`),
      el("span", { class: "risk-line" }, riskText(p))));
}

function renderRun(count) {
  const more = count > drafts.length ? ` (the riskiest ${drafts.length} listed)` : "";
  const approveBelow = el("input", { type: "number", id: "bulk-approve-below", min: "0", max: "1", step: "0.05", value: "0.3" });
  const rejectFrom = el("input", { type: "number", id: "bulk-reject-from", min: "0", max: "1", step: "0.05", placeholder: "none" });
  const reason = el("input", { type: "text", id: "bulk-reason", maxlength: "10000", placeholder: "why the rejected ones are wrong" });
  const preview = el("p", { id: "bulk-preview", class: "muted", role: "status" }, "Preview to see how many each choice decides.");
  const apply = el("button", { type: "button", class: "button", id: "bulk-apply", disabled: true }, "Apply");
  const bodyOf = () => ({
    run: runId, image: imageId,
    approve_below: approveBelow.value === "" ? null : Number(approveBelow.value),
    reject_from: rejectFrom.value === "" ? null : Number(rejectFrom.value),
    comment: reason.value.trim(),
  });
  const invalidate = () => { previewed = null; apply.disabled = true; apply.textContent = "Apply"; };
  for (const input of [approveBelow, rejectFrom, reason]) input.addEventListener("input", invalidate);
  const previewButton = el("button", { type: "button", class: "button secondary", id: "bulk-preview-button", onclick: async () => {
    const body = bodyOf();
    const result = await api(`/api/v1/projects/${projectId}/review/bulk-by-risk/`, { method: "POST", body: { ...body, dry_run: true } });
    if (!result.ok) { preview.textContent = `No preview: ${errorText(result)}`; return; }
    const d = result.data;
    preview.textContent = `${plural(d.approve, "draft")} would be approved, ${plural(d.reject, "draft")} rejected; `
      + `${d.kept} kept for review, ${d.unscored} without a risk.`;
    previewed = { body, counts: d };
    apply.disabled = d.approve + d.reject === 0;
    apply.textContent = [d.approve ? `Approve ${d.approve}` : "", d.reject ? `reject ${d.reject}` : ""].filter(Boolean).join(" · ") || "Nothing to do";
  } }, "Preview");
  apply.addEventListener("click", () => applyBulk(apply));
  runBox.replaceChildren(
    el("h3", {}, `Run #${runId}`),
    el("p", { id: "draft-count", class: "muted" }, `${plural(count, "draft")} to review on this image${more}, riskiest first. N: next · A: approve · R: reject.`),
    el("ol", { class: "queue-list", id: "draft-list", "aria-label": "The run's drafts, riskiest first" }, drafts.map(draftItem)),
    el("form", { class: "stacked drafts-form", "aria-label": "Decide by risk", onsubmit: (e) => e.preventDefault() },
      el("label", {}, "Approve risk below ", approveBelow),
      el("label", {}, "Reject risk from ", rejectFrom),
      el("label", {}, "Reason for rejecting ", reason),
      el("div", { class: "actions" }, previewButton, " ", apply),
      preview),
    el("p", {}, el("a", { href: `/projects/${projectId}/review/?run=${runId}&order=risk&image=${imageId}` }, "Open the run in the review queue")));
  runBox.dataset.loads = String(Number(runBox.dataset.loads || 0) + 1);
}

async function applyBulk(button) {
  if (!previewed) return;
  const { body, counts } = previewed;
  const words = [counts.approve ? `approve ${plural(counts.approve, "draft")} (risk below ${body.approve_below})` : "",
    counts.reject ? `reject ${plural(counts.reject, "draft")} (risk from ${body.reject_from})` : ""].filter(Boolean).join(" and ");
  const ok = await confirmDialog({
    title: `Decide ${plural(counts.approve + counts.reject, "draft")}?`,
    message: el("p", {}, `This will ${words}, each as a single review (one event each).`),
    confirmLabel: "Apply", danger: counts.reject > 0,
  });
  if (!ok) return;
  button.disabled = true;
  const result = await api(`/api/v1/projects/${projectId}/review/bulk-by-risk/`, { method: "POST", body: { ...body, dry_run: false } });
  previewed = null;
  if (!result.ok) return toast(`Nothing decided: ${errorText(result)}`, "error");
  const d = result.data;
  toast(`${plural(d.approved.length, "draft")} approved, ${plural(d.rejected.length, "draft")} rejected.`);
  for (const r of d.refused) toast(`#${r.id} not decided: ${r.detail}`, "error");
  if (d.remaining) toast(`${d.remaining} more wait: apply again.`);
  await Promise.all([loadRun(), loadAnnotations()]);
}

// --- the review keys ------------------------------------------------------------------------

function currentIndex() {
  return state.current ? drafts.findIndex((f) => f.id === state.current.id) : -1;
}

/** N: select the next draft of the run in risk order (the riskiest first). */
export async function nextDraft() {
  if (!runId || !drafts.length) return toast(runId ? "No draft left in this run on this image." : "Open a run in the Drafts panel first.");
  const next = drafts[(currentIndex() + 1) % drafts.length];
  await focus(next.id);
}

async function decideCurrent(action, comment) {
  const i = currentIndex();
  if (i < 0) return toast("Select a draft of the open run first (N).");
  const current = state.current;
  const body = { version: current.version };
  if (comment) body.comment = comment;
  const result = await api(`/api/v1/annotations/${current.id}/${action}/`, { method: "POST", body, ifMatch: current.version });
  if (!result.ok) return toast(`Not ${action === "approve" ? "approved" : "rejected"}: ${errorText(result)}`, "error");
  toast(`Draft #${current.id} ${result.data.properties.state}.`);
  const following = drafts[i + 1];
  await loadRun();
  if (following) await focus(following.id);
}

/** A: approve the selected draft. */
export function approveDraft() {
  return decideCurrent("approve");
}

/** R: reject the selected draft, with a reason asked for first. */
export async function rejectDraft() {
  if (currentIndex() < 0) return toast("Select a draft of the open run first (N).");
  const reason = await askReason();
  if (reason) await decideCurrent("reject", reason);
}

function askReason() {
  return new Promise((resolve) => {
    const text = el("textarea", { id: "draft-reject-reason", required: true, maxlength: "10000" });
    const dialog = el("dialog", { class: "confirm", "aria-labelledby": "draft-reject-h" },
      el("form", { method: "dialog", class: "stacked" },
        el("h2", { id: "draft-reject-h" }, "Reject: say why"),
        el("label", { for: "draft-reject-reason" }, "Reason (opens a comment thread on the draft)"), text,
        el("div", { class: "actions" },
          el("button", { class: "button secondary", type: "submit", value: "no", formnovalidate: true }, "Cancel"),
          el("button", { class: "button danger", type: "submit", value: "yes" }, "Reject"))));
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "yes" ? text.value.trim() : "");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// The list marks the selected draft.
onChange((what) => {
  if (what !== "selected" && what !== "deselected") return;
  const id = state.current ? state.current.id : null;
  for (const li of runBox.querySelectorAll("#draft-list li")) li.classList.toggle("active", Number(li.dataset.annotationId) === id);
});

/** Build the panel (reviewers and owners), then open ``?run=ID`` if the page names one. */
export async function startDrafts() {
  if (!panel || !mayReviewDrafts) return;
  panel.hidden = false;
  panel.replaceChildren(el("h2", { id: "drafts-h" }, "Drafts"), startBox, runsBox, jobBox, runBox);
  await Promise.all([renderStart(), renderRuns()]);
  if (runId) await poll();
}
