// Comments where the work is: the image's comment threads pinned on the map (a reviewer's
// reason for a rejection sits on the annotation it is about), and in the panel the threads
// of the selected annotation (or, with nothing selected, those pinned to points) with their
// comments, a Reply box, Resolve / Reopen and a box for a new thread. What the user may do
// with a thread comes from the API (its ``allowed_actions``), with the annotation from
// ``allows("comment")``; every text a user typed goes in as a text node.
import { api, el, errorText, toast } from "../common.js";
import { L, map } from "./layers.js";
import { $, imageId, projectId } from "./page.js";
import { allows, onChange, state } from "./state.js";
import { select } from "./editing.js";

const panel = $("comments-panel");
// Short enough that a permanent label on the map hides little of the image.
const PIN_TEXT_CHARS = 70;
// Below Geoman's vertex handles (the marker pane, 600): a pin never blocks a vertex drag.
map.createPane("commentPins").style.zIndex = 550;
const pinLayer = L.layerGroup().addTo(map);
const pins = new Map(); // thread id → {key, marker, annotation}: the pins on the map

let threads = []; // the image's threads (API), newest first
let showResolved = false;
let loads = 0; // loads asked for, so that only the latest answer is drawn
const drafts = new Map(); // text typed in a box, by the box's key, kept across redraws

/** Load the image's threads (those of deleted annotations left out), then redraw. */
export async function loadComments() {
  const asked = ++loads;
  const result = await api(`/api/v1/projects/${projectId}/comments/?image=${imageId}&live=true&limit=1000`);
  if (asked !== loads) return; // a later load is on its way: an earlier answer may be older
  if (!result.ok) {
    panel.dataset.error = errorText(result);
    return;
  }
  threads = result.data.results || result.data;
  delete panel.dataset.error;
  render();
}

function shown(thread) {
  return showResolved || !thread.resolved;
}

/** The map's frame: Leaflet wants longitudes past 180 east of an image across the antimeridian. */
function latLngOf(anchor) {
  let [lng, lat] = anchor.coordinates;
  const bounds = state.image && state.image.bounds;
  if (bounds && bounds[2] < bounds[0] && lng < bounds[0]) lng += 360;
  return L.latLng(lat, lng);
}

function shorten(text, chars) {
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}

function replies(n) {
  return `${n} ${n === 1 ? "reply" : "replies"}`;
}

function who(author) {
  return author || "a former member";
}

function when(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

async function openPinned(thread) {
  if (thread.annotation && (!state.current || state.current.id !== thread.annotation)) {
    const result = await api(`/api/v1/annotations/${thread.annotation}/`);
    if (!result.ok) return toast(`Annotation #${thread.annotation}: ${errorText(result)}`, "error");
    await select(result.data);
  }
  const item = panel.querySelector(`[data-thread-id="${thread.id}"]`);
  if (item) {
    item.scrollIntoView({ block: "nearest" });
    item.focus();
  }
}

function makePin(thread) {
  const first = thread.comments[0];
  const icon = L.divIcon({ className: `comment-dot${thread.resolved ? " resolved" : ""}`, iconSize: [16, 16] });
  const marker = L.marker(latLngOf(thread.anchor), {
    icon, pane: "commentPins", keyboard: false,
    title: `${thread.resolved ? "Resolved comment" : "Comment"} by ${who(first && first.author)}: open it in the panel`,
  });
  marker.on("click", (e) => {
    L.DomEvent.stop(e);
    openPinned(thread);
  });
  // An element, not a string: Leaflet puts string content in as HTML.
  const label = el("span", { dataset: { threadId: thread.id } },
    el("strong", {}, who(first && first.author)), `: ${shorten(first ? first.body : "", PIN_TEXT_CHARS)}`,
    thread.comments.length > 1 ? el("span", { class: "pin-replies" }, ` · ${replies(thread.comments.length - 1)}`) : "");
  // Open threads are labelled on the map; resolved ones only when hovered, so they fade back.
  marker.bindTooltip(label, {
    permanent: !thread.resolved, direction: "top", offset: [0, -8],
    className: `comment-pin${thread.resolved ? " resolved" : ""}`,
  });
  return marker.addTo(pinLayer);
}

/** Pins of the shown threads. A pin is replaced only when its thread changed: Leaflet fades a
 * removed label out, and redrawing every pin on each load would make them flicker. */
function drawPins() {
  const kept = new Set();
  for (const thread of threads) {
    if (!thread.anchor || !shown(thread)) continue;
    const key = JSON.stringify([thread.resolved, thread.comments.length, thread.anchor.coordinates]);
    kept.add(thread.id);
    const pin = pins.get(thread.id);
    if (pin && pin.key === key) continue;
    if (pin) pin.marker.remove();
    pins.set(thread.id, { key, marker: makePin(thread), annotation: thread.annotation });
  }
  for (const [id, pin] of pins) {
    if (!kept.has(id)) {
      pin.marker.remove();
      pins.delete(id);
      continue;
    }
    const selected = Boolean(state.current && pin.annotation === state.current.id);
    pin.marker.getElement().classList.toggle("selected", selected);
  }
}

/** What a thread may have done to it now, from its ``allowed_actions``. */
function may(thread, action) {
  return Array.isArray(thread.allowed_actions) && thread.allowed_actions.includes(action);
}

async function act(thread, action, body) {
  const url = `/api/v1/projects/${projectId}/comments/${thread.id}/${action}/`;
  const result = await api(url, { method: "POST", body: body || {} });
  if (!result.ok) {
    toast(`${{ reply: "Not sent", resolve: "Not resolved", reopen: "Not reopened" }[action]}: ${errorText(result)}`, "error");
    return false;
  }
  await loadComments();
  return true;
}

/** A text box and its button; Ctrl+Enter sends too. ``send(text)`` resolves to whether it went. */
function composer({ key, label, button, placeholder, send }) {
  const box = el("textarea", { "aria-label": label, placeholder, rows: 2, maxlength: 10000 });
  box.value = drafts.get(key) || "";
  box.addEventListener("input", () => drafts.set(key, box.value));
  const go = el("button", { type: "submit", class: "button" }, button);
  const form = el("form", { class: "comment-form" }, box, go);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = box.value.trim();
    if (!text) return box.focus();
    go.disabled = true;
    drafts.delete(key);
    const sent = await send(text);
    go.disabled = false;
    if (!sent) drafts.set(key, text);
    else box.value = "";
  });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  return form;
}

function threadItem(thread) {
  const comments = thread.comments.map((c) => el("li", { class: "comment" },
    el("div", { class: "comment-head" }, el("strong", {}, who(c.author)), " ",
      el("time", { datetime: c.created_at, title: c.created_at }, when(c.created_at))),
    el("div", { class: "comment-body" }, c.body)));
  const status = thread.resolved
    ? el("p", { class: "muted thread-status" }, `Resolved${thread.resolved_by ? ` by ${thread.resolved_by}` : ""}` +
      (thread.resolved_at ? ` · ${when(thread.resolved_at)}` : ""))
    : null;
  const toggle = may(thread, thread.resolved ? "reopen" : "resolve")
    ? el("button", { type: "button", class: "button secondary", onclick: () => act(thread, thread.resolved ? "reopen" : "resolve") },
      thread.resolved ? "Reopen" : "Resolve")
    : null;
  const reply = may(thread, "reply")
    ? composer({ key: `reply-${thread.id}`, label: `Reply to ${who(thread.created_by)}`, button: "Reply", placeholder: "Reply…",
      send: (text) => act(thread, "reply", { body: text }) })
    : null;
  return el("li", { class: `thread${thread.resolved ? " resolved" : ""}`, tabindex: -1, dataset: { threadId: thread.id } },
    el("ol", { class: "thread-comments" }, comments), status, reply, toggle);
}

/** With nothing selected and no thread pinned to a point: where the image's comments are. */
function emptyHint() {
  const open = threads.filter((t) => !t.resolved).length;
  if (!open) return "No open comments on this image.";
  return `${open} open comment thread${open === 1 ? "" : "s"} on this image: click a pin on the map, or select an annotation, to read and answer.`;
}

/** The threads the panel is about: the selected annotation's, or those pinned to points. */
function panelThreads() {
  if (state.current) return threads.filter((t) => t.annotation === state.current.id);
  return threads.filter((t) => !t.annotation);
}

async function startThread(annotationId, text) {
  const result = await api(`/api/v1/projects/${projectId}/comments/`, {
    method: "POST", body: { annotation: annotationId, body: text },
  });
  if (!result.ok) {
    toast(`Not sent: ${errorText(result)}`, "error");
    return false;
  }
  await loadComments();
  return true;
}

function renderPanel() {
  const about = panelThreads();
  const open = about.filter((t) => !t.resolved);
  const resolved = about.filter((t) => t.resolved);
  const current = state.current;
  const heading = el("h2", { id: "comments-h" }, current ? `Comments on #${current.id}` : "Comments");
  const parts = [heading];
  if (!about.length) parts.push(el("p", { class: "muted" }, current ? "No comments on this annotation." : emptyHint()));
  if (open.length) parts.push(el("ol", { class: "threads" }, open.map(threadItem)));
  if (resolved.length) {
    parts.push(el("button", {
      type: "button", class: "link", id: "comments-resolved-toggle", "aria-pressed": String(showResolved),
      onclick: () => {
        showResolved = !showResolved;
        render();
      },
    }, `${showResolved ? "Hide" : "Show"} ${resolved.length} resolved thread${resolved.length === 1 ? "" : "s"}`));
    if (showResolved) parts.push(el("ol", { class: "threads resolved-threads" }, resolved.map(threadItem)));
  }
  if (current && allows("comment")) {
    parts.push(composer({
      key: `new-${current.id}`, label: `New comment on annotation #${current.id}`, button: "Comment", placeholder: "New comment on this annotation…",
      send: (text) => startThread(current.id, text),
    }));
  }
  panel.replaceChildren(...parts);
  panel.hidden = false;
}

function render() {
  drawPins();
  renderPanel();
}

onChange((what) => {
  // Reload as well as redraw: a reviewer may have written since the page loaded, and a
  // deselection may be a deletion, whose threads leave the map.
  if (what === "selected" || what === "deselected") {
    render();
    loadComments();
  }
});
