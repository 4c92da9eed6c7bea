// Dashboard section "Model evaluation": how well SAM2 segments this project's approved
// polygons under the standard click protocol (/model-evaluations/), as a table and the
// mIoU-vs-clicks curve; owners (allowed_actions "start") start a new one.
import Chart from "chart.js/auto";
import { api, el, errorText, toast } from "./common.js";

const POLL_MS = 2000;
const CURVE_COLOURS = ["#111827", "#2563eb", "#16a34a", "#f97316", "#9333ea", "#dc2626", "#0891b2", "#ca8a04"];

function fixed(x, digits = 2) {
  return x === null || x === undefined ? "–" : Number(x).toFixed(digits);
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

function seconds(s) {
  if (s === null || s === undefined) return "–";
  return s < 120 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`;
}

function figuresRow(name, f, testid) {
  return el("tr", { dataset: { testid } },
    el("th", { scope: "row" }, name),
    el("td", {}, String(f.objects)),
    el("td", {}, fixed(f.noc85)),
    el("td", {}, fixed(f.noc90)),
    el("td", {}, String(f.nof90)),
    ...f.miou.map((v) => el("td", {}, fixed(v, 3))));
}

function figuresTable(evaluation) {
  const s = evaluation.summary;
  const rows = [figuresRow("All classes", s, "evaluation-overall"),
    ...evaluation.per_class.map((c) => figuresRow(c.name || "unlabelled", c, "evaluation-class"))];
  return el("table", { class: "list", id: "evaluation-table" },
    el("thead", {}, el("tr", {},
      el("th", {}, "Label class"), el("th", {}, "Objects"),
      el("th", { title: "mean clicks to reach IoU 0.85 (20 when never reached)" }, "NoC@85"),
      el("th", { title: "mean clicks to reach IoU 0.90 (20 when never reached)" }, "NoC@90"),
      el("th", { title: "objects never reaching IoU 0.90" }, "NoF@90"),
      ...[1, 2, 3, 4, 5].map((k) => el("th", {}, `mIoU@${k}`)))),
    el("tbody", {}, ...rows));
}

function skippedText(skipped) {
  const reasons = { no_features: "no stored features of this model", no_window: "larger than any window or leaving the image", empty_mask: "too small to cover a pixel" };
  const parts = Object.entries(skipped || {}).map(([k, n]) => `${n} ${reasons[k] || k}`);
  return parts.length ? `; skipped: ${parts.join(", ")}` : "";
}

let chart = null;

function drawCurve(canvas, evaluation) {
  const series = [{ name: "All classes", miou: evaluation.summary.miou },
    ...evaluation.per_class.map((c) => ({ name: c.name || "unlabelled", miou: c.miou }))];
  if (chart) chart.destroy();
  chart = new Chart(canvas, {
    type: "line",
    data: {
      labels: ["1", "2", "3", "4", "5"],
      datasets: series.map((s, i) => ({
        label: s.name,
        data: s.miou.map((v) => (v === null ? null : v * 100)),
        borderColor: CURVE_COLOURS[i % CURVE_COLOURS.length],
        backgroundColor: CURVE_COLOURS[i % CURVE_COLOURS.length],
        borderWidth: i === 0 ? 3 : 1.5,
      })),
    },
    options: { scales: { x: { title: { display: true, text: "clicks" } }, y: { min: 0, max: 100, title: { display: true, text: "mean IoU (%)" } } } },
  });
}

function resultView(evaluation, canvas) {
  const s = evaluation.summary;
  const p = evaluation.params;
  const parts = [el("h3", {}, `Latest finished evaluation (${when(evaluation.finished_at)})`)];
  if (evaluation.untrained) {
    parts.push(el("p", { class: "banner", role: "alert", dataset: { testid: "evaluation-untrained" } },
      "Untrained weights: these numbers are meaningless. The server has no checkpoint for this model, so SAM2 ran with random weights."));
  }
  parts.push(el("p", { class: "muted", dataset: { testid: "evaluation-identity" } },
    `${evaluation.model_name}, checkpoint ${evaluation.checkpoint_digest.slice(0, 20)}; `
    + `${s.objects} of ${s.approved} approved polygons${p.sample ? ` (sample of ${p.sample}, seed ${p.seed})` : ""}`
    + `${skippedText(s.skipped)}; up to ${p.max_clicks} clicks each; ran ${seconds(s.runtime_s)}`
    + `${s.seconds_per_100_objects ? ` (${seconds(s.seconds_per_100_objects)} per 100 objects)` : ""}.`));
  if (!s.objects) {
    parts.push(el("p", { class: "muted" }, "No approved polygon could be evaluated: approve some annotations on encoded images first."));
    return parts;
  }
  parts.push(figuresTable(evaluation));
  parts.push(el("figure", { class: "chart" },
    el("figcaption", {}, "Mean IoU after each click"), canvas,
    el("p", { class: "explain" }, "Each click lands where the mask is most wrong (inside the largest missed or extra part) and refines the previous mask, as a click on the annotate page does.")));
  drawCurve(canvas, evaluation);
  return parts;
}

function progressView(evaluation) {
  const job = evaluation.job || {};
  if (evaluation.status === "failed" || evaluation.status === "cancelled") {
    return el("p", { class: "bad", dataset: { testid: "evaluation-status" } },
      `The evaluation of ${when(evaluation.created_at)} ${evaluation.status}${job.error ? `: ${job.error}` : "."}`);
  }
  const share = Math.round((job.progress || 0) * 100);
  return el("p", { dataset: { testid: "evaluation-status" } },
    evaluation.status === "queued"
      ? `Evaluation of ${evaluation.model_name} queued: it starts when the SAM2 worker is free.`
      : `Evaluating ${evaluation.model_name}: ${share} % (${job.message || "starting"}).`);
}

/** Add the "Model evaluation" section to the dashboard ``root`` of project ``projectId``. */
export function mountEvaluation(root, projectId) {
  const base = `/api/v1/projects/${projectId}/model-evaluations/`;
  const model = el("select", { id: "evaluation-model", "aria-label": "Model to evaluate" });
  const sample = el("input", { id: "evaluation-sample", type: "number", min: "1", step: "1", placeholder: "all", style: "width:6em", "aria-label": "Sample size (blank: every approved polygon)" });
  const seed = el("input", { id: "evaluation-seed", type: "number", min: "0", step: "1", value: "0", style: "width:6em", "aria-label": "Seed of the sample" });
  const start = el("button", { type: "button", id: "evaluation-start" }, "Start evaluation");
  const controls = el("div", { class: "toolbar", hidden: true, dataset: { testid: "evaluation-controls" } },
    el("label", {}, "Model ", model), el("label", {}, "Sample size ", sample), el("label", {}, "Seed ", seed), start);
  const status = el("div", { id: "evaluation-status", "aria-live": "polite" });
  const canvas = el("canvas", { id: "chart-evaluation", role: "img", "aria-label": "Mean IoU after 1 to 5 clicks, overall and per label class" });
  const result = el("div", { id: "evaluation-result" }, el("p", { class: "muted" }, "Loading…"));
  const section = el("section", { id: "evaluation", dataset: { testid: "evaluation" } },
    el("h2", {}, "Model evaluation"),
    el("p", { class: "muted" },
      "How many clicks SAM2 needs on this project's approved polygons: a simulated annotator clicks inside the "
      + "largest missed part (or, negatively, the largest extra part) until the mask overlaps the polygon well. "
      + "NoC@85 / NoC@90: mean clicks to reach an IoU of 0.85 / 0.90; NoF@90: objects that never reach 0.90; "
      + "mIoU@k: mean IoU after k clicks."),
    controls, status, result);
  root.append(section);
  let timer = null;

  async function refresh() {
    clearTimeout(timer);
    const listed = await api(`${base}?limit=20`);
    if (!listed.ok) {
      result.replaceChildren(el("p", { class: "bad" }, errorText(listed)));
      return;
    }
    const evaluations = listed.data.results;
    const latest = evaluations[0];
    const shown = evaluations.find((e) => e.status === "succeeded");
    status.replaceChildren(...(latest && latest.status !== "succeeded" ? [progressView(latest)] : []));
    if (shown) {
      result.replaceChildren(...resultView(shown, canvas));
    } else {
      result.replaceChildren(el("p", { class: "muted", dataset: { testid: "evaluation-empty" } }, "No evaluation has finished yet."));
    }
    section.dataset.loaded = "true";
    if (latest && (latest.status === "queued" || latest.status === "running")) timer = setTimeout(refresh, POLL_MS);
  }

  async function setup() {
    const answer = await api(`${base}setup/`);
    if (!answer.ok) return;
    const d = answer.data;
    if (!d.allowed_actions.includes("start")) return;
    const names = [d.project_model, ...d.models.map((m) => m.model).filter((m) => m !== d.project_model)];
    model.replaceChildren(...names.map((name) => {
      const found = d.models.find((m) => m.model === name);
      const note = name === d.project_model ? " (the project's)" : "";
      return el("option", { value: name }, `${name}${note}${found ? `, features for ${found.images} image${found.images === 1 ? "" : "s"}` : ", no features yet"}`);
    }));
    sample.max = String(Math.max(1, d.approved));
    controls.hidden = false;
  }

  start.addEventListener("click", async () => {
    start.disabled = true;
    const body = { model: model.value, seed: Number(seed.value || 0) };
    if (sample.value) body.sample = Number(sample.value);
    const answer = await api(base, { method: "POST", body });
    start.disabled = false;
    if (!answer.ok) {
      toast(errorText(answer), "error");
      return;
    }
    toast("Evaluation queued.");
    refresh();
  });

  setup();
  refresh();
}
