// Dashboard page: project figures from /dashboard/ drawn with Chart.js. The review figures
// come from the review events (every approval and rejection ever made), not the states now.
import Chart from "chart.js/auto";
import { mountAgreement } from "./agreement.js";
import { mountEvaluation } from "./evaluation.js";
import { STATE_COLOURS, api, el, errorText, formatArea } from "./common.js";

const root = document.getElementById("dashboard");
const projectId = root.dataset.projectId;
const STATES = ["draft", "submitted", "approved", "rejected"];
const DAYS = 30;
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

/** "0 %", "67 %"; "–" when nothing was reviewed (a rate of nothing is not 0 %). */
function rate(x) {
  return x === null || x === undefined ? "–" : `${Math.round(x * 100)} %`;
}

function count(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

function card(testid, value, label, explanation, colour) {
  return el("div", { class: "card", dataset: { testid } },
    el("div", { class: "n", style: colour ? `color:${colour}` : undefined }, value),
    el("div", {}, label),
    explanation ? el("p", { class: "explain" }, explanation) : null);
}

/** The last ``DAYS`` UTC dates, oldest first, as YYYY-MM-DD (days without events get zeros). */
function lastDays() {
  const today = new Date();
  return Array.from({ length: DAYS }, (_, i) => new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - (DAYS - 1 - i))).toISOString().slice(0, 10));
}

function reviewRecord(a) {
  const name = a.username || "(deleted user)";
  const firstPass = a.reviewed
    ? `first-pass approval rate ${rate(a.first_pass_approval_rate)}`
    : "first-pass approval rate – (nothing reviewed yet)";
  return el("div", { class: "card record", dataset: { testid: "review-record", username: a.username || "" } },
    el("h4", {}, name),
    el("ul", {},
      el("li", { dataset: { figure: "rejections" } }, count(a.rejections, "rejection")),
      el("li", { dataset: { figure: "first-pass" } }, firstPass),
      el("li", { dataset: { figure: "rework" } }, count(a.resubmissions, "resubmission after a rejection", "resubmissions after a rejection")),
      el("li", { dataset: { figure: "median" } }, `median time to decision ${duration(a.median_review_s)}`)));
}

async function load() {
  const result = await api(`/api/v1/projects/${projectId}/dashboard/?days=${DAYS}`);
  if (!result.ok) {
    document.getElementById("cards").replaceChildren(el("p", { class: "bad" }, errorText(result)));
    return;
  }
  const d = result.data;
  document.getElementById("cards").replaceChildren(
    card("count-total", String(d.total), "annotations"),
    ...STATES.map((s) => card(`count-${s}`, String(d.by_state[s]), s, null, STATE_COLOURS[s])),
    card("area", formatArea(d.area_m2), "annotated"));

  const r = d.review;
  document.getElementById("review-cards").replaceChildren(
    card("rejections-ever", String(r.rejections), r.rejections === 1 ? "rejection" : "rejections",
      "Every rejection a reviewer made, including those fixed and approved since.", STATE_COLOURS.rejected),
    card("first-pass-rate", rate(r.first_pass_approval_rate), "first-pass approval rate",
      `Of the ${count(r.reviewed, "annotation")} reviewed at least once, the share approved at their first review.`),
    card("rework", String(r.resubmissions), "rework", "Submissions made again after a rejection."),
    card("median-review", duration(r.median_review_s), "median time to decision",
      "From a submission to its approval or rejection (the middle value)."));
  document.getElementById("review-records").replaceChildren(
    ...(d.by_annotator.length ? d.by_annotator.map(reviewRecord) : [el("p", { class: "muted" }, "Nobody has annotated yet.")]));

  const byDay = Object.fromEntries(d.throughput.map((row) => [row.day, row]));
  const days = lastDays();
  const perDay = (key) => days.map((day) => (byDay[day] ? byDay[day][key] : 0));
  draw("chart-throughput", {
    type: "bar",
    data: {
      labels: days.map((day) => day.slice(5)),
      datasets: [
        { label: "submitted", data: perDay("submitted"), backgroundColor: STATE_COLOURS.submitted, stack: "submissions" },
        { label: "approved", data: perDay("approved"), backgroundColor: STATE_COLOURS.approved, stack: "reviews" },
        { label: "rejected", data: perDay("rejected"), backgroundColor: STATE_COLOURS.rejected, stack: "reviews" },
      ],
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
  });
  const people = d.by_annotator.map((a) => a.username || "(deleted user)");
  draw("chart-annotators", stateBars(people, d.by_annotator.map((a) => ({
    by_state: { draft: a.created - a.submitted, submitted: a.pending_review, approved: a.approved, rejected: a.rejected },
  }))));
  const reviewedPeople = d.by_annotator.filter((a) => a.reviewed);
  draw("chart-approval", {
    type: "bar",
    data: {
      labels: reviewedPeople.map((a) => a.username || "(deleted user)"),
      datasets: [{ label: "first-pass approval rate (%)", data: reviewedPeople.map((a) => a.first_pass_approval_rate * 100), backgroundColor: STATE_COLOURS.approved }],
    },
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

  document.querySelector("#annotator-table tbody").replaceChildren(...d.by_annotator.map((a) => el("tr", { dataset: { username: a.username || "" } },
    el("td", {}, a.username || "(deleted user)"), el("td", {}, String(a.created)), el("td", {}, String(a.pending_review)),
    el("td", {}, String(a.approved)), el("td", {}, String(a.rejected)), el("td", {}, String(a.rejections)),
    el("td", {}, rate(a.first_pass_approval_rate)), el("td", {}, String(a.resubmissions)), el("td", {}, duration(a.median_review_s)))));
  document.querySelector("#class-table tbody").replaceChildren(...d.by_class.map((c) => el("tr", { dataset: { labelClass: c.name || "" } },
    el("td", {}, c.name || "unlabelled"), el("td", {}, String(c.count)), el("td", {}, String(c.reviewed)), el("td", {}, String(c.rejections)),
    el("td", {}, rate(c.first_pass_approval_rate)), el("td", {}, String(c.resubmissions)), el("td", {}, duration(c.median_review_s)))));
  root.dataset.loaded = "true";
}

load();
mountAgreement(root, projectId);
mountEvaluation(root, projectId);
