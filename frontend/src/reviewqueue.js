// The review page's queue list: filters (image, annotator, label class, area, drafting run),
// the order (oldest submission, or by risk), the annotations they leave with each one's risk
// in words, check boxes, and "Approve N selected" after a confirmation that names them. The
// server approves each one as a single approval (review/bulk-approve).
// ``?run=ID&order=risk`` in the page's address presets the filters (from the annotate page).
import { api, el, errorText, toast } from "./common.js";
import { confirmDialog, plural } from "./dialogs.js";
import { riskText } from "./risk.js";

const PAGE = 200; // rows listed at once; the count says when more wait

/**
 * Wire the queue panel. ``onOpen(feature)`` shows an annotation on the map; ``onChange()``
 * runs when the filters change and after a bulk approval (the page shows what is left).
 * Returns {query, items, count, reload, markCurrent, loadChoices}.
 */
export function createQueue({ projectId, onOpen, onChange }) {
  const base = `/api/v1/projects/${projectId}`;
  const $ = (id) => document.getElementById(id);
  const filters = {
    image: $("filter-image"), author: $("filter-author"), label_class: $("filter-class"), area: $("filter-area"),
    run: $("filter-run"), order: $("filter-order"),
  };
  const preset = new URLSearchParams(location.search);
  for (const name of ["run", "order"]) if (preset.get(name)) filters[name].value = preset.get(name);
  const list = $("queue-list");
  const selectAll = $("queue-select-all");
  const approveButton = $("approve-selected");
  const selected = new Set();
  let items = [];
  let currentId = null;
  let count = 0;
  let loads = 0;
  let requests = 0;

  /** The filters as a query string for review/queue and review/next. */
  function query() {
    const params = new URLSearchParams();
    for (const [name, select] of Object.entries(filters)) if (select.value) params.set(name, select.value);
    return params.toString();
  }

  function fill(select, everything, options) {
    select.replaceChildren(el("option", { value: "" }, everything), ...options.map(([value, text]) => el("option", { value: String(value) }, text)));
  }

  /** Whether a filter (not only the order) narrows the queue. */
  function filtered() {
    return Object.entries(filters).some(([name, input]) => name !== "order" && input.value);
  }

  async function loadChoices(classes) {
    const [images, members, areas] = await Promise.all([
      api(`${base}/images/?limit=500`), api(`${base}/members/?limit=500`), api(`${base}/areas/`),
    ]);
    const rows = (result) => (result.ok ? (result.data.results || result.data.features || result.data) : []);
    fill(filters.image, "All images", rows(images).map((i) => [i.id, i.name]));
    fill(filters.author, "All annotators", rows(members).filter((m) => m.role !== "viewer").map((m) => [m.username, m.username]));
    fill(filters.label_class, "All classes", classes.map((c) => [c.id, c.archived ? `${c.name} (archived)` : c.name]));
    const wanted = preset.get("image");
    fill(filters.area, "All areas", rows(areas).map((a) => {
      const p = a.properties || a;
      return [a.id, `${p.name || `area ${a.id}`}${p.assignee ? ` (${p.assignee})` : ""}`];
    }));
    if (wanted) filters.image.value = wanted;
  }

  function updateSelection() {
    for (const id of [...selected]) if (!items.some((f) => f.id === id)) selected.delete(id);
    const n = selected.size;
    approveButton.disabled = n === 0;
    approveButton.textContent = n ? `Approve ${n} selected` : "Approve selected";
    selectAll.checked = n > 0 && n === items.length;
    selectAll.indeterminate = n > 0 && n < items.length;
    selectAll.disabled = items.length === 0;
  }

  /** "#12 field · annotator · 09:41" (the submission's time, with its date when not today). */
  function describe(f) {
    const p = f.properties;
    const at = p.submitted_at ? new Date(p.submitted_at) : null;
    const today = at && at.toDateString() === new Date().toDateString();
    const when = at ? at.toLocaleString("en-GB", today ? { hour: "2-digit", minute: "2-digit" } : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }) : "";
    return `#${f.id} ${p.label_class_name || "unlabelled"} · ${p.author || "(deleted user)"}${when ? ` · ${when}` : ""}`;
  }

  function render() {
    list.replaceChildren(...items.map((f) => {
      const box = el("input", { type: "checkbox", "aria-label": `Select annotation #${f.id}`, dataset: { annotationId: f.id } });
      box.checked = selected.has(f.id);
      box.addEventListener("change", () => {
        if (box.checked) selected.add(f.id); else selected.delete(f.id);
        updateSelection();
      });
      const risk = f.properties.risk === null || f.properties.risk === undefined ? null
        : el("span", { class: "risk-line", title: riskText(f.properties) }, riskText(f.properties));
      return el("li", { class: f.id === currentId ? "active" : "", dataset: { annotationId: f.id } },
        box, el("span", { class: "queue-item" },
          el("button", { type: "button", class: "link", title: "Show it on the map", onclick: () => onOpen(f) }, describe(f)),
          risk));
    }));
    const first = filters.order.value === "risk" ? "riskiest" : filters.order.value === "risk_low" ? "safest" : "oldest";
    const shown = items.length < count ? ` (the ${first} ${items.length} listed)` : "";
    if (!count) $("queue-count").textContent = filtered() ? "No submitted annotation matches the filters." : "The queue is empty.";
    else if (filtered()) $("queue-count").textContent = `${plural(count, "annotation")} ${count === 1 ? "matches" : "match"} the filters${shown}.`;
    else $("queue-count").textContent = `${plural(count, "annotation")} in the queue${shown}.`;
    updateSelection();
  }

  async function reload() {
    const asked = ++requests;
    const result = await api(`${base}/review/queue/?${query()}&page_size=${PAGE}`);
    if (asked !== requests) return; // a newer request (other filters) answers instead
    if (!result.ok) {
      $("queue-count").textContent = `Could not load the queue: ${errorText(result)}`;
      return;
    }
    items = result.data.features;
    count = result.data.count;
    render();
    list.dataset.loads = String(++loads);
  }

  function markCurrent(id) {
    currentId = id;
    for (const li of list.children) li.classList.toggle("active", Number(li.dataset.annotationId) === id);
  }

  async function approveSelected() {
    const chosen = items.filter((f) => selected.has(f.id));
    if (!chosen.length) return;
    const n = chosen.length;
    const confirmed = await confirmDialog({
      title: `Approve ${plural(n, "annotation")}?`,
      message: [
        el("p", {}, `Each of these ${n} is approved as if you approved it on its own (one review each):`),
        el("ul", {}, ...chosen.slice(0, 12).map((f) => el("li", {}, describe(f)))),
        n > 12 ? el("p", {}, `and ${n - 12} more.`) : null,
      ],
      confirmLabel: `Approve ${n}`,
      danger: false,
    });
    if (!confirmed) return;
    approveButton.disabled = true;
    const body = { annotations: chosen.map((f) => ({ id: f.id, version: f.properties.version })) };
    const result = await api(`${base}/review/bulk-approve/`, { method: "POST", body });
    if (!result.ok) {
      toast(`Nothing approved: ${errorText(result)}`, "error");
      updateSelection();
      return;
    }
    const { approved, refused } = result.data;
    for (const f of approved) selected.delete(f.id);
    if (approved.length) toast(`${plural(approved.length, "annotation")} approved.`);
    for (const r of refused) toast(`#${r.id} not approved: ${r.detail}`, "error");
    onChange();
  }

  selectAll.addEventListener("change", () => {
    if (selectAll.checked) for (const f of items) selected.add(f.id); else selected.clear();
    render();
  });
  approveButton.addEventListener("click", approveSelected);
  for (const select of Object.values(filters)) select.addEventListener("change", () => onChange());

  return { query, filtered, items: () => items, count: () => count, reload, markCurrent, loadChoices };
}
