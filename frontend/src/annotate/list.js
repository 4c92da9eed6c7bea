// The annotation list of the annotate page: this image's annotations or the whole project's,
// filtered by the server (state, class, author, mine, open comments), with the number in each
// state. A click zooms to an annotation and selects it; one on another image opens that
// image's page on it. [ and ] step through the list in its order (by id). The filters are
// kept for the browser tab, so the next image's page opens with the same list.
import { STATE_COLOURS, api, el, errorText, toast } from "../common.js";
import { $, imageId, projectId } from "./page.js";
import { onChange, state } from "./state.js";
import { focus } from "./editing.js";

const PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000; // the API's bound
const STATES = ["draft", "submitted", "approved", "rejected"];
const STORE_KEY = `geoprompt.annotation-list.${projectId}`;
const DEFAULTS = { scope: "image", state: "", labelClass: "", author: "", mine: false, openComments: false };
const RELOAD_DELAY_MS = 300; // a burst of changes (select, save, submit) becomes one reload

const filters = restoreFilters();
const list = { items: [], next: null, count: 0, counts: null, error: null };
const imageNames = new Map();
let members = [];
let loading = Promise.resolve();
let reloadTimer = null;
let generation = 0; // answers to an older query are dropped

function restoreFilters() {
  try {
    return { ...DEFAULTS, ...JSON.parse(sessionStorage.getItem(STORE_KEY) || "{}") };
  } catch {
    return { ...DEFAULTS };
  }
}

function keepFilters() {
  try { sessionStorage.setItem(STORE_KEY, JSON.stringify(filters)); } catch { /* storage disabled: not kept */ }
}

/** The list's query: every filter but the state (the counts are per state). */
function commonQuery() {
  const q = new URLSearchParams();
  if (filters.scope === "image") q.set("image", imageId);
  if (filters.labelClass) q.set("label_class", filters.labelClass);
  if (filters.author) q.set("author", filters.author);
  if (filters.mine) q.set("mine", "true");
  if (filters.openComments) q.set("has_open_comments", "true");
  return q;
}

function base() {
  return `/api/v1/projects/${projectId}/annotations/`;
}

/** Load the first page again (as many rows as were shown, within the API's bound) and the counts. */
export function reload() {
  const mine = ++generation;
  // Tests (and styles) wait for "ready" instead of for time.
  section.dataset.state = "loading";
  const q = commonQuery();
  const countsUrl = `${base()}counts/?${q}`;
  if (filters.state) q.set("state", filters.state);
  q.set("page_size", String(Math.min(Math.max(PAGE_SIZE, list.items.length), MAX_PAGE_SIZE)));
  loading = Promise.all([api(`${base()}?${q}`), api(countsUrl)]).then(([page, counts]) => {
    if (mine !== generation) return;
    list.error = page.ok ? null : errorText(page);
    list.items = page.ok ? page.data.features : [];
    list.next = page.ok ? page.data.next : null;
    list.count = page.ok ? page.data.count : 0;
    list.counts = counts.ok ? counts.data : null;
    render();
    section.dataset.state = "ready";
    return loadImageNames();
  });
  return loading;
}

async function loadMore() {
  if (!list.next) return;
  const mine = generation;
  const page = await api(list.next);
  if (mine !== generation) return;
  if (!page.ok) return toast(errorText(page), "error");
  list.items = list.items.concat(page.data.features);
  list.next = page.data.next;
  render();
  await loadImageNames();
}

function scheduleReload() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(reload, RELOAD_DELAY_MS);
}

/** Names of the images the list shows, for items of other images (one request, bounded). */
async function loadImageNames() {
  if (list.items.every((f) => f.properties.image === imageId || imageNames.has(f.properties.image))) return;
  const result = await api(`/api/v1/projects/${projectId}/images/?limit=${MAX_PAGE_SIZE}`);
  if (!result.ok) return;
  for (const image of result.data.results || []) imageNames.set(image.id, image.name);
  render();
}

async function loadMembers() {
  const result = await api(`/api/v1/projects/${projectId}/members/?limit=${MAX_PAGE_SIZE}`);
  if (!result.ok) return;
  members = (result.data.results || result.data).map((m) => m.username).sort();
  renderFilters();
}

/** Open ``feature`` (API Feature): zoom and select it here, or open its own image's page on it. */
async function openItem(feature) {
  if (feature.properties.image !== imageId) {
    location.assign(`/images/${feature.properties.image}/map/?annotation=${feature.id}`);
    return;
  }
  await focus(feature.id);
}

/**
 * Select the next (``direction`` 1) or previous (-1) annotation of the list, in its order (by
 * id), from the selected one (or from the start / the end when none is).
 */
export async function step(direction) {
  await loading;
  const currentId = state.current ? state.current.id : null;
  const after = (f) => currentId === null || f.id > currentId;
  let target = direction > 0 ? list.items.find(after) : [...list.items].reverse().find((f) => currentId === null || f.id < currentId);
  while (!target && direction > 0 && list.next) {
    await loadMore();
    target = list.items.find(after);
  }
  if (!target) {
    toast(list.items.length ? `No ${direction > 0 ? "next" : "previous"} annotation in the list.` : "The list is empty.");
    return;
  }
  await openItem(target);
}

// --- drawing (text only: names and usernames go in as text nodes) -----------------------
const section = $("annotation-list");
const scopeGroup = el("div", { class: "segmented", role: "group", "aria-label": "Which annotations" });
const stateGroup = el("div", { class: "state-counts", role: "group", "aria-label": "Filter by review state" });
const classSelect = el("select", { id: "list-class", "aria-label": "Filter by class" });
const authorSelect = el("select", { id: "list-author", "aria-label": "Filter by author" });
const mineBox = el("input", { type: "checkbox", id: "list-mine" });
const openBox = el("input", { type: "checkbox", id: "list-open-comments" });
const items = el("ol", { id: "annotation-items", class: "annotation-items", "aria-label": "Annotations" });
const status = el("p", { id: "annotation-list-status", class: "muted", role: "status" });
const moreButton = el("button", { type: "button", class: "button secondary", id: "annotation-list-more", hidden: true }, "Show more");

section.replaceChildren(
  el("h2", { id: "annotation-list-h" }, "Annotations"),
  scopeGroup,
  stateGroup,
  el("div", { class: "list-filters" },
    classSelect, authorSelect,
    el("label", {}, mineBox, " mine"),
    el("label", {}, openBox, " open comments")),
  items, status, moreButton,
);

function setFilter(changes) {
  Object.assign(filters, changes);
  keepFilters();
  list.items = [];
  renderFilters();
  reload();
}

classSelect.addEventListener("change", () => setFilter({ labelClass: classSelect.value }));
authorSelect.addEventListener("change", () => setFilter({ author: authorSelect.value }));
mineBox.addEventListener("change", () => setFilter({ mine: mineBox.checked }));
openBox.addEventListener("change", () => setFilter({ openComments: openBox.checked }));
moreButton.addEventListener("click", loadMore);

function pressed(button, on) {
  button.setAttribute("aria-pressed", String(on));
  return button;
}

// The buttons are made once and only updated, so keyboard focus stays on the one pressed.
const scopeButtons = [["image", "This image"], ["project", "Whole project"]].map(([scope, text]) =>
  el("button", { type: "button", class: "button", dataset: { scope }, onclick: () => setFilter({ scope }) }, text));
scopeGroup.replaceChildren(...scopeButtons);
const stateCounts = new Map([["", el("b", {}, "…")], ...STATES.map((s) => [s, el("b", {}, "…")])]);
const stateButtons = [
  el("button", { type: "button", class: "count-chip", dataset: { state: "" }, onclick: () => setFilter({ state: "" }) },
    "all ", stateCounts.get("")),
  ...STATES.map((s) => el("button", {
    type: "button", class: "count-chip", dataset: { state: s }, onclick: () => setFilter({ state: filters.state === s ? "" : s }),
  }, el("span", { class: "state-line", style: `border-color:${STATE_COLOURS[s]}` }), `${s} `, stateCounts.get(s))),
];
stateGroup.replaceChildren(...stateButtons);

/** Options of a select, replaced only when they changed (a user may have it open). */
function setOptions(select, options, value) {
  const wanted = JSON.stringify(options);
  if (select.dataset.options !== wanted) {
    select.replaceChildren(...options.map(([v, text]) => el("option", { value: v }, text)));
    select.dataset.options = wanted;
  }
  select.value = options.some(([v]) => v === value) ? value : "";
}

function renderFilters() {
  for (const button of scopeButtons) pressed(button, filters.scope === button.dataset.scope);
  for (const button of stateButtons) pressed(button, filters.state === button.dataset.state);
  const counts = list.counts ? { "": list.counts.total, ...list.counts.counts } : {};
  for (const [s, node] of stateCounts) node.textContent = counts[s] === undefined ? "…" : String(counts[s]);
  setOptions(classSelect, [["", "all classes"], ...state.classes.map((c) => [String(c.id), c.name])], filters.labelClass);
  setOptions(authorSelect, [["", "all authors"], ...members.map((name) => [name, name])], filters.author);
  mineBox.checked = filters.mine;
  openBox.checked = filters.openComments;
}

function itemOf(feature) {
  const p = feature.properties;
  const elsewhere = p.image !== imageId;
  const what = `#${feature.id} ${p.label_class_name || "unlabelled"} · ${p.state}` + (p.author ? ` · ${p.author}` : "");
  const where = elsewhere ? `on ${imageNames.get(p.image) || `image ${p.image}`}` : null;
  return el("li", { dataset: { id: feature.id, state: p.state }, class: elsewhere ? "elsewhere" : undefined },
    el("button", { type: "button", class: "link", onclick: () => openItem(feature), title: elsewhere ? `Opens ${where}` : "Zoom to it and select it" },
      el("span", { class: "state-line", style: `border-color:${STATE_COLOURS[p.state] || "#6b7280"}` }),
      el("span", { class: "item-text" }, el("span", {}, what), where && el("small", { class: "item-where" }, where))));
}

function render() {
  renderFilters();
  items.replaceChildren(...list.items.map(itemOf));
  moreButton.hidden = !list.next;
  status.textContent = list.error ? `Could not load the list: ${list.error}`
    : list.count ? `${list.items.length} of ${list.count} shown · [ and ] step through them`
      : "No annotations match these filters.";
  markSelected();
}

function markSelected() {
  const id = state.current ? state.current.id : null;
  for (const li of items.children) {
    const on = Number(li.dataset.id) === id;
    li.classList.toggle("active", on);
    // Scroll the list only (scrollIntoView would scroll the whole panel away from the selection).
    if (on && li.offsetTop < items.scrollTop) items.scrollTop = li.offsetTop;
    else if (on && li.offsetTop + li.offsetHeight > items.scrollTop + items.clientHeight) {
      items.scrollTop = li.offsetTop + li.offsetHeight - items.clientHeight;
    }
  }
}

onChange((what) => {
  if (what === "classesLoaded") renderFilters();
  if (what === "selected") {
    markSelected();
    // A new annotation (accepted or drawn) joins the list.
    if (!list.items.some((f) => f.id === state.current.id)) scheduleReload();
  }
  // A saved change can move it in or out of the filters and changes the counts; a delete too.
  if (what === "updated" || what === "deselected") scheduleReload();
  if (what === "deselected") markSelected();
});

renderFilters();
loadMembers();
reload();
