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
      + "– where all their labels are one class, so agreement cannot be told from chance)."),
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
    consensus.disabled = !scope.value;
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

  consensus.addEventListener("click", async () => {
    consensus.disabled = true;
    const result = await api(`/api/v1/projects/${projectId}/agreement/consensus/`, {
      method: "POST", body: { area: Number(scope.value), iou: Number(threshold.value) },
    });
    consensus.disabled = false;
    if (!result.ok) {
      toast(errorText(result), "error");
      return;
    }
    const made = result.data.created.length;
    const { replaced, kept } = result.data;
    let first = `${made} consensus draft${made === 1 ? "" : "s"} sent for review`;
    if (!made) first = kept ? "No new consensus draft" : "No object in this area was drawn by two or more annotators";
    const parts = [first];
    if (replaced) parts.push(`${replaced} untouched earlier draft${replaced === 1 ? "" : "s"} replaced`);
    if (kept) parts.push(`${kept} already reviewed or edited, left as ${kept === 1 ? "it is" : "they are"}`);
    toast(`${parts.join("; ")}.`);
  });
  scope.addEventListener("change", load);
  threshold.addEventListener("change", load);
  loadAreas().then(load);
}
