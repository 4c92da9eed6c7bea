// My tasks: the areas assigned to me with their progress, and my rejected annotations with
// the reviewer's reason; "Go" opens the annotate page on each (data from /api/v1/tasks/).
import { api, el, errorText } from "./common.js";
import { completion, stateBar, stateSummary } from "./progress.js";

const root = document.getElementById("tasks");
const projectId = root.dataset.projectId;
const acrossProjects = !projectId;

function go(task) {
  return el("a", { class: "button", href: task.url, "aria-label": `Go to ${task.name}` }, "Go");
}

function place(task) {
  return acrossProjects ? `${task.project_name} / ${task.image_name}` : task.image_name;
}

function areaRow(task) {
  return el("tr", { dataset: { taskId: task.id } },
    el("td", {}, task.name),
    el("td", {}, place(task)),
    el("td", {}, completion(task.progress)),
    el("td", { dataset: { testid: `task-progress-${task.id}` } }, stateBar(task.progress && task.progress.by_state), " ",
      stateSummary(task.progress && task.progress.by_state)),
    el("td", {}, go(task)));
}

function rejectedRow(task) {
  return el("tr", { dataset: { annotationId: task.id } },
    el("td", {}, task.name, task.label_class_name ? ` · ${task.label_class_name}` : ""),
    el("td", {}, place(task)),
    el("td", {}, task.comment ? el("q", {}, task.comment) : el("span", { class: "muted" }, "no reason given")),
    el("td", {}, task.reviewed_by || ""),
    el("td", {}, go(task)));
}

function table(id, headings, rows) {
  return el("table", { class: "list", id },
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))), el("tbody", {}, rows));
}

async function load() {
  const result = await api(`/api/v1/tasks/${projectId ? `?project=${projectId}` : ""}`);
  const areasBox = document.getElementById("task-areas");
  const rejectedBox = document.getElementById("task-rejected");
  if (!result.ok) {
    areasBox.replaceChildren(el("p", { class: "bad" }, errorText(result)));
    return;
  }
  const areas = result.data.tasks.filter((t) => t.kind === "area");
  const rejected = result.data.tasks.filter((t) => t.kind === "rejected");
  const where = acrossProjects ? "Project / image" : "Image";
  areasBox.replaceChildren(areas.length
    ? table("task-area-rows", ["Area", where, "Completion", "Annotations in it", ""], areas.map(areaRow))
    : el("p", { class: "muted" }, "No area is assigned to you. A reviewer or an owner gives out areas on the annotate page."));
  rejectedBox.replaceChildren(rejected.length
    ? table("task-rejected-rows", ["Annotation", where, "Reviewer's reason", "Rejected by", ""], rejected.map(rejectedRow))
    : el("p", { class: "muted" }, "Nothing to fix: none of your annotations is rejected."));
  if (result.data.truncated) rejectedBox.append(el("p", { class: "muted" }, "Only your first tasks are listed; finish some to see the rest."));
}

load();
