// Exports page: choose formats and filters, start an export, watch its job, download the zip.
import { api, el, errorText, percent } from "./common.js";

const root = document.getElementById("exports");
const base = `/api/v1/projects/${root.dataset.projectId}`;
const form = document.getElementById("export-form");
const note = document.getElementById("export-note");
const regulariseClass = document.getElementById("regularise-class");
const regularise45 = document.getElementById("regularise-45");
let timer = null;

// "Allow 45°" means something only once a class is chosen.
function syncRegularise() {
  regularise45.disabled = !regulariseClass.value;
}
regulariseClass.addEventListener("change", syncRegularise);
syncRegularise();

function ticked(name) {
  return [...form.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
}

function choice(name, value, text) {
  return el("label", {}, el("input", { type: "checkbox", name, value: String(value) }), ` ${text}`);
}

async function loadChoices() {
  const [classes, images] = await Promise.all([api(`${base}/label-classes/`), api(`${base}/images/?limit=500`)]);
  if (classes.ok) {
    const list = classes.data.results || classes.data;
    document.getElementById("class-choices").replaceChildren(...list.map((c) => choice("label_class", c.id, c.archived ? `${c.name} (archived)` : c.name)));
    regulariseClass.append(...list.map((c) => el("option", { value: String(c.id) }, c.name)));
  }
  if (images.ok) document.getElementById("image-choices").replaceChildren(...images.data.results.map((i) => choice("image", i.id, i.name)));
}

function regularised(x) {
  const option = x.options && x.options.regularise;
  if (!option) return "";
  const name = regulariseClass.querySelector(`option[value="${Number(option.label_class)}"]`);
  return el("span", { class: "muted" }, ` · ${name ? name.textContent : "a class"} squared${option.allow_45 ? " (45° allowed)" : ""}`);
}

function size(bytes) {
  if (!bytes) return "";
  return bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1048576).toFixed(1)} MiB`;
}

async function loadExports() {
  clearTimeout(timer);
  const result = await api(`${base}/exports/?limit=50`);
  if (!result.ok) return;
  const rows = result.data.results;
  document.getElementById("export-rows").replaceChildren(...rows.map((x) => {
    const job = x.job || {};
    const running = ["queued", "running"].includes(x.status);
    return el("tr", { dataset: { exportId: x.id, status: x.status } },
      el("td", {}, `#${x.id} · ${(x.created_at || "").slice(0, 16).replace("T", " ")}`),
      el("td", {}, x.formats.join(", "), regularised(x)),
      el("td", {}, x.created_by || ""),
      el("td", {}, running
        ? el("span", { class: "job" }, el("progress", { max: "1", value: String(job.progress || 0) }), ` ${x.status} ${percent(job.progress)}`)
        : x.status, job.error ? el("span", { class: "bad" }, ` ${job.error}`) : ""),
      el("td", {}, x.counts && x.counts.annotations !== undefined ? String(x.counts.annotations) : ""),
      el("td", {}, size(x.size_bytes)),
      el("td", {}, x.download_url ? el("a", { href: x.download_url, download: "" }, "Download") : ""));
  }));
  if (!rows.length) document.getElementById("export-rows").replaceChildren(el("tr", {}, el("td", { colspan: 7 }, "No exports yet.")));
  if (rows.some((x) => ["queued", "running"].includes(x.status))) timer = setTimeout(loadExports, 1000);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const formats = ticked("format");
  if (!formats.length) { note.textContent = "Tick at least one format."; return; }
  const filters = { states: ticked("state") };
  const classes = ticked("label_class").map(Number);
  const images = ticked("image").map(Number);
  if (classes.length) filters.label_classes = classes;
  if (images.length) filters.images = images;
  const body = { formats, filters };
  if (regulariseClass.value) {
    body.options = { regularise: { label_class: Number(regulariseClass.value), allow_45: regularise45.checked } };
  }
  const result = await api(`${base}/exports/`, { method: "POST", body });
  note.textContent = result.ok ? `Export #${result.data.id} started.` : `Not started: ${errorText(result)}`;
  loadExports();
});

loadChoices().then(loadExports); // the list names the class an export squared
