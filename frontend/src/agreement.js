// Dashboard section "Annotator agreement": figures from /agreement/ (per pair, per annotator,
// per class; distances in metres) and, for those the API allows, consensus drafts of an area.
import { api, el, errorText, toast } from "./common.js";

const THRESHOLDS = ["0.5", "0.75", "0.9"];

function figure(x, digits = 2) {
  return x === null || x === undefined ? "–" : Number(x).toFixed(digits);
}

function percentOrDash(x) {
  return x === null || x === undefined ? "–" : `${Math.round(x * 100)} %`;
}

function table(testid, headings, rows, empty) {
  if (!rows.length) return el("p", { class: "muted", dataset: { testid } }, empty);
  return el("table", { class: "list", dataset: { testid } },
    el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows));
}

function cells(row) {
  return [
    el("td", {}, String(row.polygons)),
    el("td", {}, String(row.matched)),
    el("td", {}, figure(row.f1)),
    el("td", {}, figure(row.mean_iou)),
    el("td", {}, row.median_boundary_m === null ? "–" : `${figure(row.median_boundary_m)} m`),
  ];
}

const COMMON = ["Polygons", "Matched", "F1", "Mean IoU", "Median boundary distance"];

function areaLabel(feature) {
  const p = feature.properties;
  const who = p.assignee ? ` (${p.assignee})` : " (nobody)";
  return `${p.name || `Area ${feature.id}`}${who}`;
}

/** Add the "Annotator agreement" section to the dashboard ``root`` of project ``projectId``. */
export function mountAgreement(root, projectId) {
  const scope = el("select", { id: "agreement-area", "aria-label": "Compare where" },
    el("option", { value: "" }, "Whole project"));
  const threshold = el("select", { id: "agreement-iou", "aria-label": "Least IoU of a match" },
    ...THRESHOLDS.map((t) => el("option", { value: t }, `IoU ≥ ${t}`)));
  const consensus = el("button", { type: "button", id: "make-consensus", hidden: true, disabled: true },
    "Make consensus drafts");
  const consensusHint = el("span", { class: "muted", id: "consensus-hint", hidden: true },
    "Choose an area to fuse its annotators' matched polygons.");
  const body = el("div", { id: "agreement-figures", "aria-live": "polite" }, el("p", { class: "muted" }, "Loading…"));
  const section = el("section", { id: "agreement", dataset: { testid: "agreement" } },
    el("h2", {}, "Annotator agreement"),
    el("p", { class: "muted" },
      "Each pair of annotators' polygons matched one to one where both were asked to work. F1 counts matched "
      + "polygons over all of both; IoU and the boundary distance (the median distance between the outlines, "
      + "in metres) describe the matched ones; α is Krippendorff's alpha of their labels (1 agree, 0 chance; "
      + "– where all their labels are one class, so agreement cannot be told from chance). When nearly every "
      + "object has the same class, agreement by chance is already high and a single disagreement pulls α to "
      + "about 0: read it together with Same label."),
    el("div", { class: "toolbar" }, scope, threshold, consensus, consensusHint),
    body);
  root.append(section);

  async function load() {
    const params = new URLSearchParams({ iou: threshold.value });
    if (scope.value) params.set("area", scope.value);
    const result = await api(`/api/v1/projects/${projectId}/agreement/?${params}`);
    if (!result.ok) {
      body.replaceChildren(el("p", { class: "bad" }, errorText(result)));
      return;
    }
    const d = result.data;
    const mayFuse = d.allowed_actions.includes("make_consensus");
    consensus.hidden = !mayFuse;
    consensusHint.hidden = !mayFuse || Boolean(scope.value);
    if (runBox.dataset.status !== "queued" && runBox.dataset.status !== "running") consensus.disabled = !scope.value;
    const alpha = d.overall.label_alpha === null ? "–" : figure(d.overall.label_alpha);
    body.replaceChildren(
      el("p", { dataset: { testid: "agreement-overall" } },
        `${d.overall.clusters} ${d.overall.clusters === 1 ? "object" : "objects"} drawn by two or more annotators; `
        + `label agreement α ${alpha}.`),
      el("h3", {}, "Per pair of annotators"),
      table("agreement-pairs", ["Annotators", ...COMMON, "Same label", "α"],
        d.pairs.map((p) => el("tr", { dataset: { pair: p.annotators.join("|") } },
          el("td", {}, p.annotators.join(" and ")), ...cells(p),
          el("td", {}, percentOrDash(p.label_agreement)), el("td", {}, figure(p.label_alpha)))),
        "No two annotators have drawn in the same place yet."),
      el("h3", {}, "Per annotator"),
      table("agreement-annotators", ["Annotator", "Polygons", "Matched by someone else", ...COMMON.slice(2), "Same label"],
        d.annotators.map((a) => el("tr", { dataset: { username: a.annotator } },
          el("td", {}, a.annotator), ...cells(a), el("td", {}, percentOrDash(a.label_agreement)))),
        "Nobody to compare yet."),
      el("h3", {}, "Per label class"),
      table("agreement-classes", ["Label class", "Polygons", "Matched with the same class", ...COMMON.slice(2)],
        d.classes.map((c) => el("tr", { dataset: { labelClass: c.label_class || "" } },
          el("td", {}, c.label_class === null ? "unlabelled" : c.label_class), ...cells(c))),
        "No classes to compare yet."));
    section.dataset.loaded = "true";
  }

  async function loadAreas() {
    const result = await api(`/api/v1/projects/${projectId}/areas/`);
    if (!result.ok) return;
    const features = result.data.features || [];
    scope.append(...features.map((f) => el("option", { value: String(f.id) }, areaLabel(f))));
  }

  // A consensus run is a background job: its progress and outcome are shown under the toolbar.
  const runStatus = el("p", { id: "consensus-status", class: "muted", hidden: true, "aria-live": "polite" });
  const runBar = el("progress", { max: "1", value: "0", "aria-label": "Consensus progress" });
  const cancelRun = el("button", { type: "button", id: "cancel-consensus", class: "button secondary" }, "Cancel");
  const runBox = el("div", { id: "consensus-run", class: "toolbar", hidden: true, dataset: { testid: "consensus-run" } },
    runBar, runStatus, cancelRun);
  body.before(runBox);
  let polling = null;

  function outcome(run) {
    const made = run.created.length;
    const { replaced, kept } = run;
    let first = `${made} consensus draft${made === 1 ? "" : "s"} sent for review`;
    if (!made) first = kept ? "No new consensus draft" : "No object in this area was drawn by two or more annotators";
    const parts = [first];
    if (replaced) parts.push(`${replaced} untouched earlier draft${replaced === 1 ? "" : "s"} replaced`);
    if (kept) parts.push(`${kept} already reviewed or edited, left as ${kept === 1 ? "it is" : "they are"}`);
    return `${parts.join("; ")}.`;
  }

  function showRun(run) {
    const job = run.job;
    runBox.hidden = false;
    runStatus.hidden = false;
    runBox.dataset.status = job.status;
    runBar.value = job.progress || 0;
    const running = job.status === "queued" || job.status === "running";
    runBar.hidden = !running;
    cancelRun.hidden = !running;
    if (job.status === "queued") runStatus.textContent = "Consensus: waiting for a worker…";
    else if (job.status === "running") runStatus.textContent = `Consensus: ${job.message || "starting"}…`;
    else if (job.status === "succeeded") runStatus.textContent = outcome(run);
    else if (job.status === "cancelled") runStatus.textContent = "Consensus cancelled: nothing was saved.";
    else runStatus.textContent = `Consensus failed: ${job.error || "unknown error"}. Nothing was saved.`;
    runStatus.className = job.status === "failed" ? "bad" : "muted";
    consensus.disabled = running || !scope.value;
  }

  async function follow(runId) {
    const result = await api(`/api/v1/projects/${projectId}/agreement/consensus/${runId}/`);
    if (!result.ok) {
      runStatus.hidden = false;
      runStatus.textContent = errorText(result);
      consensus.disabled = !scope.value;
      return;
    }
    showRun(result.data);
    const { status } = result.data.job;
    if (status === "queued" || status === "running") polling = setTimeout(() => follow(runId), 1000);
    else if (status === "succeeded") toast(outcome(result.data));
  }

  cancelRun.addEventListener("click", async () => {
    const jobId = cancelRun.dataset.jobId;
    if (!jobId) return;
    const result = await api(`/api/v1/jobs/${jobId}/cancel/`, { method: "POST" });
    if (!result.ok) toast(errorText(result), "error");
  });

  consensus.addEventListener("click", async () => {
    consensus.disabled = true;
    clearTimeout(polling);
    const result = await api(`/api/v1/projects/${projectId}/agreement/consensus/`, {
      method: "POST", body: { area: Number(scope.value), iou: Number(threshold.value) },
    });
    if (!result.ok) {
      consensus.disabled = false;
      toast(errorText(result), "error");
      return;
    }
    cancelRun.dataset.jobId = String(result.data.job.id);
    showRun(result.data);
    polling = setTimeout(() => follow(result.data.id), 500);
  });
  scope.addEventListener("change", load);
  threshold.addEventListener("change", load);
  loadAreas().then(load);
}
