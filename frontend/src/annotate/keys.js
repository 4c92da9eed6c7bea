// The one table of the annotate page's shortcuts: the key handler and the help dialog (and
// the short hint in the panel) are both made from it, so they cannot disagree.
import { el, typingInField } from "../common.js";
import { map } from "./layers.js";
import { $, canCreate, root } from "./page.js";
import { state } from "./state.js";
import { redo, undo } from "./history.js";
import { deleteCurrent, deselect, pickLabel, saveNow, submitCurrent } from "./editing.js";
import { accept, addPoint, clearPrompt, prompting } from "./prompting.js";
import { step } from "./list.js";
import { approveDraft, mayReviewDrafts, nextDraft, rejectDraft } from "./drafts.js";
import { setTool, togglePromptThrough } from "./tools.js";

const PAN_PX = { ArrowLeft: [-100, 0], ArrowRight: [100, 0], ArrowUp: [0, -100], ArrowDown: [0, 100] };

/** A handler that also stops the browser's own use of the key. */
const prevented = (run) => (event) => { event.preventDefault(); return run(event); };

function escape() {
  if (state.tool === "polygon") return setTool("prompt");
  if (prompting()) return clearPrompt();
  return deselect();
}

function deleteOrClear() {
  return state.current ? deleteCurrent() : clearPrompt();
}

function panWithKeys(event) {
  if (document.activeElement === root) return; // Leaflet's own keyboard handler pans
  event.preventDefault();
  map.panBy(PAN_PX[event.key]);
}

const digits = Object.fromEntries([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => [String(n), () => pickLabel(n - 1)]));

/**
 * One row per line of help. ``show``: how the help writes it, keys in braces ("{Ctrl}+{Z}");
 * ``text``: what it does; ``hint``: its words in the panel's short hint, if any;
 * ``keys``: chord → handler(event). A chord is a printable key upper-cased ("Q", "?", "["),
 * a named key ("Enter", "ArrowLeft"), either after "Ctrl+" or "Ctrl+Shift+" (Cmd counts as Ctrl).
 * ``annotates``: the row is for users who annotate; viewers neither see nor get it.
 * ``reviews``: the row is for reviewers and owners (the Drafts panel's keys).
 */
const ALL_SHORTCUTS = [
  { show: "click / {Q}", text: "positive point (Q: at the map centre)", hint: "Click: positive point", annotates: true,
    keys: { Q: () => addPoint(map.getCenter(), true) } },
  { show: "Alt+click, right click / {W}", text: "negative point (W: at the map centre)", hint: "Alt/right click: negative",
    annotates: true, keys: { W: () => addPoint(map.getCenter(), false) } },
  { show: "drag", text: "box prompt", hint: "drag: box", annotates: true, keys: {} },
  { show: "{Shift}+click, {Shift}+drag / {O}", text: "prompt or draw on top of an existing polygon (O: keep it on)",
    hint: "Shift: on top", annotates: true, keys: { O: togglePromptThrough } },
  { show: "click a polygon", text: "select it", hint: canCreate ? undefined : "Click a polygon: select it", keys: {} },
  { show: "{Enter}", text: "accept the preview as an editable polygon", hint: "Enter: accept", annotates: true,
    keys: { Enter: prevented(accept) } },
  { show: "{1}…{9}", text: "pick the label class", annotates: true, keys: digits },
  { show: "{S}", text: "submit the selected annotation for review", hint: "S: submit", annotates: true, keys: { S: submitCurrent } },
  { show: "{Delete}", text: "delete the selected annotation", annotates: true,
    keys: { Delete: prevented(deleteOrClear), Backspace: prevented(deleteOrClear) } },
  { show: "{Ctrl}+{Z} / {Ctrl}+{Shift}+{Z}", text: "undo / redo prompts and edits", annotates: true,
    keys: { "Ctrl+Z": prevented(undo), "Ctrl+Shift+Z": prevented(redo), "Ctrl+Y": prevented(redo) } },
  { show: "{Ctrl}+{S}", text: "save now", annotates: true, keys: { "Ctrl+S": prevented(saveNow) } },
  { show: "{Esc}", text: "clear the prompt, then deselect", keys: { Escape: escape } },
  { show: "{P} / {T} / {H}", text: "manual polygon / SAM2 prompt / pan tool", annotates: true,
    keys: { P: () => setTool("polygon"), T: () => setTool("prompt"), H: () => setTool(state.tool === "pan" ? "prompt" : "pan") } },
  { show: "{[} {]}", text: "select the previous / next annotation of the list", keys: { "[": () => step(-1), "]": () => step(1) } },
  { show: "{N} / {A} / {R}", text: "drafts of the open run: next by risk / approve / reject with a reason", reviews: true,
    keys: { N: nextDraft, A: approveDraft, R: rejectDraft } },
  { show: "arrows, {+} {-}, hold {Space}", text: "pan, zoom, pan with the mouse",
    keys: {
      ArrowLeft: panWithKeys, ArrowRight: panWithKeys, ArrowUp: panWithKeys, ArrowDown: panWithKeys,
      "+": () => map.zoomIn(), "=": () => map.zoomIn(), "-": () => map.zoomOut(),
    } },
  { show: "{?}", text: "this help", keys: { "?": prevented(() => toggleHelp()) } },
];
export const SHORTCUTS = ALL_SHORTCUTS.filter((row) => (canCreate || !row.annotates) && (mayReviewDrafts || !row.reviews));

const HANDLERS = new Map(SHORTCUTS.flatMap((row) => Object.entries(row.keys)));

/** The chord of a key event, as the table names it; null for Alt combinations (none are bound). */
export function chord(event) {
  const key = event.key.length === 1 ? event.key.toUpperCase() : event.key;
  if (event.ctrlKey || event.metaKey) return `Ctrl+${event.shiftKey && /^[A-Z]$/.test(key) ? "Shift+" : ""}${key}`;
  if (event.altKey) return null;
  return key;
}

function handlerOf(name) {
  // Ctrl+Shift+S saves like Ctrl+S unless the table binds the shifted chord itself.
  return HANDLERS.get(name) || (name && name.startsWith("Ctrl+Shift+") ? HANDLERS.get(name.replace("Shift+", "")) : undefined);
}

// --- the help dialog and the hint, drawn from the table ------------------------------------
const help = $("help");

function toggleHelp(show = help.hidden) {
  help.hidden = !show;
  if (show) help.querySelector("button").focus();
}

/** "{Ctrl}+{Z} / …" as text and <kbd> nodes. */
function showNodes(show) {
  return show.split(/\{([^}]+)\}/).map((part, i) => (i % 2 ? el("kbd", {}, part) : part)).filter((part) => part !== "");
}

$("help-keys").replaceChildren(...SHORTCUTS.map((row) => el("tr", {}, el("td", {}, ...showNodes(row.show)), el("td", {}, row.text))));
$("hint").replaceChildren(SHORTCUTS.filter((row) => row.hint).map((row) => row.hint).join(" · "), " · ",
  el("button", { type: "button", class: "link", id: "help-open", onclick: () => toggleHelp(true) }, "? all shortcuts"));
$("help-close").addEventListener("click", () => toggleHelp(false));

document.addEventListener("keydown", (event) => {
  if (typingInField(event)) return;
  const name = chord(event);
  if (!help.hidden && name !== "?") {
    if (name === "Escape") toggleHelp(false);
    return;
  }
  const run = handlerOf(name);
  if (run) run(event);
});

// Space held: pan with the mouse whatever the tool.
document.addEventListener("keydown", (e) => {
  if (e.key === " " && !typingInField(e)) {
    e.preventDefault();
    map.dragging.enable();
  }
});
document.addEventListener("keyup", (e) => {
  if (e.key === " " && state.tool === "prompt") map.dragging.disable();
});
