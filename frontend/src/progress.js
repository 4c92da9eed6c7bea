// Progress of the work: annotations per review state (a sentence and a small stacked bar)
// and the completion of assigned areas. The project page shows one row per image and per
// area (showProjectProgress); My tasks and the annotate page use the same pieces.
import { STATE_COLOURS, api, el, errorText, percent } from "./common.js";

const STATES = ["draft", "submitted", "approved", "rejected"];

/** "12 drafts · 5 submitted · 3 approved" (states with none left out). */
export function stateSummary(byState = {}) {
  const parts = STATES.filter((s) => byState[s]).map((s) => {
    const n = byState[s];
    return s === "draft" ? `${n} draft${n === 1 ? "" : "s"}` : `${n} ${s}`;
  });
  return parts.length ? parts.join(" · ") : "no annotations yet";
}

/** A small bar split by review state, each part as wide as its share of the annotations. */
export function stateBar(byState = {}) {
  const total = STATES.reduce((sum, s) => sum + (byState[s] || 0), 0);
  const bar = el("span", { class: "state-bar", role: "img", "aria-label": stateSummary(byState) });
  for (const s of STATES) {
    if (!byState[s]) continue;
    bar.append(el("span", { style: `width:${(100 * byState[s]) / total}%;background:${STATE_COLOURS[s]}`, title: `${byState[s]} ${s}` }));
  }
  return bar;
}

/** An area's completion: the share (0 to 1) covered by submitted and approved annotations. */
export function completion(progress) {
  const share = progress ? progress.completion : 0;
  return el("span", { class: "completion" },
    el("progress", { max: "1", value: String(share), "aria-label": `${percent(share)} done` }), ` ${percent(share)} done`);
}

function imageRow(image) {
  return el("tr", { dataset: { imageId: image.image } },
    el("td", {}, el("a", { href: `/images/${image.image}/map/` }, image.name)),
    el("td", {}, stateBar(image.by_state), " ", el("span", { dataset: { testid: `image-progress-${image.image}` } }, stateSummary(image.by_state))));
}

function areaRow(area) {
  return el("tr", { dataset: { areaId: area.id } },
    el("td", {}, el("a", { href: `/images/${area.image}/map/?area=${area.id}` }, area.name)),
    el("td", {}, area.image_name),
    el("td", {}, area.assignee || el("span", { class: "muted" }, "unassigned")),
    el("td", {}, completion(area)),
    el("td", { dataset: { testid: `area-progress-${area.id}` } }, stateSummary(area.by_state)));
}

/** Fill ``section`` (the project page's Progress) from GET /projects/{id}/progress/. */
export async function showProjectProgress(section, projectId) {
  const result = await api(`/api/v1/projects/${projectId}/progress/`);
  const heading = el("h2", { id: "progress-h" }, "Progress");
  if (!result.ok) {
    section.replaceChildren(heading, el("p", { class: "bad" }, errorText(result)));
    return;
  }
  const { images, areas, areas_truncated: truncated } = result.data;
  const imageTable = images.length
    ? el("table", { class: "list", id: "image-progress" },
      el("thead", {}, el("tr", {}, el("th", {}, "Image"), el("th", {}, "Annotations by state"))),
      el("tbody", {}, images.map(imageRow)))
    : el("p", { class: "muted" }, "No images yet.");
  const areaTable = areas.length
    ? el("table", { class: "list", id: "area-progress" },
      el("thead", {}, el("tr", {},
        el("th", {}, "Area"), el("th", {}, "Image"), el("th", {}, "Assigned to"), el("th", {}, "Completion"), el("th", {}, "Annotations in it"))),
      el("tbody", {}, areas.map(areaRow)))
    : el("p", { class: "muted" }, "No assigned areas yet: reviewers and owners draw them on an image's annotate page.");
  section.replaceChildren(heading, imageTable,
    el("h3", {}, "Assigned areas"),
    el("p", { class: "muted" }, "Completion is the share of an area covered by submitted and approved annotations."),
    areaTable,
    ...(truncated ? [el("p", { class: "muted" }, `Only the first ${areas.length} areas are listed.`)] : []));
}
