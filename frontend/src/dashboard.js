// Dashboard page: project figures from /dashboard/ drawn with Chart.js.
import Chart from "chart.js/auto";
import { STATE_COLOURS, api, el, errorText, percent } from "./common.js";

const root = document.getElementById("dashboard");
const projectId = root.dataset.projectId;
const STATES = ["draft", "submitted", "approved", "rejected"];
Chart.defaults.animation = false; // charts appear at once (and screenshots are stable)
Chart.defaults.maintainAspectRatio = false;
const charts = {};

function draw(id, config) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart(document.getElementById(id), config);
}

function stateBars(labels, rows) {
  return {
    type: "bar",
    data: {
      labels,
      datasets: STATES.map((s) => ({ label: s, data: rows.map((r) => r.by_state[s] || 0), backgroundColor: STATE_COLOURS[s] })),
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
  };
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

async function load() {
  const result = await api(`/api/v1/projects/${projectId}/dashboard/?days=30`);
  if (!result.ok) {
    document.getElementById("cards").replaceChildren(el("p", { class: "bad" }, errorText(result)));
    return;
  }
  const d = result.data;
  const km2 = (d.area_m2 / 1e6).toFixed(d.area_m2 < 1e5 ? 3 : 1);
  document.getElementById("cards").replaceChildren(
    el("div", { class: "card", dataset: { testid: "count-total" } }, el("div", { class: "n" }, String(d.total)), "annotations"),
    ...STATES.map((s) => el("div", { class: "card", dataset: { testid: `count-${s}` } },
      el("div", { class: "n", style: `color:${STATE_COLOURS[s]}` }, String(d.by_state[s])), s)),
    el("div", { class: "card" }, el("div", { class: "n" }, km2), "km² annotated"));

  const days = d.throughput.map((r) => r.day);
  draw("chart-throughput", {
    type: "line",
    data: {
      labels: days,
      datasets: [["created", "#6b7280"], ["submitted", STATE_COLOURS.submitted], ["approved", STATE_COLOURS.approved], ["rejected", STATE_COLOURS.rejected]]
        .map(([k, colour]) => ({ label: k, data: d.throughput.map((r) => r[k]), borderColor: colour, backgroundColor: colour })),
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  const people = d.by_annotator.map((a) => a.username || "(deleted user)");
  draw("chart-annotators", stateBars(people, d.by_annotator.map((a) => ({
    by_state: { draft: a.created - a.submitted, submitted: a.pending_review, approved: a.approved, rejected: a.rejected },
  }))));
  draw("chart-approval", {
    type: "bar",
    data: { labels: people, datasets: [{ label: "approval rate (%)", data: d.by_annotator.map((a) => (a.approval_rate === null ? 0 : a.approval_rate * 100)), backgroundColor: STATE_COLOURS.approved }] },
    options: { indexAxis: "y", scales: { x: { min: 0, max: 100 } } },
  });
  draw("chart-classes", stateBars(d.by_class.map((c) => c.name || "unlabelled"), d.by_class));
  draw("chart-images", stateBars(d.images.map((i) => i.name), d.images));
  draw("chart-areas", {
    type: "bar",
    data: {
      labels: d.areas.map((a) => `${a.name || `area ${a.area}`}${a.assignee ? ` (${a.assignee})` : ""}`),
      datasets: [{ label: "completion (%)", data: d.areas.map((a) => (a.completion || 0) * 100), backgroundColor: "#f97316" }],
    },
    options: { indexAxis: "y", scales: { x: { min: 0, max: 100 } } },
  });

  document.querySelector("#annotator-table tbody").replaceChildren(...d.by_annotator.map((a) => el("tr", { dataset: { username: a.username } },
    el("td", {}, a.username || "(deleted user)"), el("td", {}, String(a.created)), el("td", {}, String(a.pending_review)),
    el("td", {}, String(a.approved)), el("td", {}, String(a.rejected)),
    el("td", {}, a.approval_rate === null ? "–" : percent(a.approval_rate)), el("td", {}, duration(a.median_review_s)))));
  root.dataset.loaded = "true";
}

load();
