// Project page, label classes: the list in key order (the annotate page's keys 1–9 follow it,
// archived classes skipped) with how many annotations use each class; owners add, rename,
// recolour, move up and down, archive and unarchive, delete an unused class (the server
// refuses one in use and says how many annotations use it), define each class's attributes,
// and say whether annotations need a label class before they are submitted.
import { api, el, errorText, toast } from "./common.js";
import { plural } from "./dialogs.js";

const root = document.getElementById("project");
const isOwner = root.dataset.role === "owner";
const base = `/api/v1/projects/${root.dataset.projectId}`;
const list = document.getElementById("class-list");
const status = document.getElementById("class-status");
const TYPES = ["text", "number", "choice", "boolean"];
let classes = [];

/** A message about the classes, kept under the list (role=status) until the next one. */
function say(message, kind = "info") {
  status.replaceChildren(...(Array.isArray(message) ? message : [message]));
  status.dataset.kind = kind;
}

async function patch(cls, body, done) {
  const r = await api(`${base}/label-classes/${cls.id}/`, { method: "PATCH", body });
  if (!r.ok) {
    toast(errorText(r), "error");
    say(`${cls.name}: ${errorText(r)}`, "error");
    await load();
    return null;
  }
  if (done) say(done(r.data));
  await load();
  return r.data;
}

async function move(index, step) {
  const ids = classes.map((c) => c.id);
  const [moved] = ids.splice(index, 1);
  ids.splice(index + step, 0, moved);
  const r = await api(`${base}/label-classes/reorder/`, { method: "POST", body: { ids } });
  if (!r.ok) { toast(errorText(r), "error"); return; }
  render(r.data);
  say(`${classes[index + step].name} moved ${step < 0 ? "up" : "down"}.`);
  list.querySelector(`[data-class-id="${moved}"] [data-move="${step < 0 ? "up" : "down"}"]`)?.focus();
}

async function remove(cls) {
  const r = await api(`${base}/label-classes/${cls.id}/`, { method: "DELETE" });
  if (r.ok) { say(`Deleted the class ${cls.name}.`); await load(); return; }
  if (r.data && r.data.code === "in_use") {
    // The server says how many annotations use it; offer what it allows instead.
    say([errorText(r), " ", el("button", {
      type: "button", class: "link", onclick: () => archive(cls, true),
    }, `Archive ${cls.name}`)], "error");
    return;
  }
  toast(errorText(r), "error");
}

function archive(cls, archived) {
  return patch(cls, { archived }, (c) => (archived
    ? `${c.name} is archived: hidden from new work, kept on its ${plural(c.annotation_count, "annotation")} and in exports.`
    : `${c.name} is back in the annotate page's list.`));
}

function nameField(cls) {
  if (!isOwner) return el("span", { class: "class-name" }, cls.name);
  return el("input", {
    class: "class-name", value: cls.name, maxlength: "100", required: true, "aria-label": `Name of ${cls.name}`,
    onchange: (e) => {
      const name = e.target.value.trim();
      if (!name || name === cls.name) { e.target.value = cls.name; return; }
      patch(cls, { name }, (c) => `Renamed ${cls.name} to ${c.name}.`);
    },
    onkeydown: (e) => { if (e.key === "Enter") e.target.blur(); },
  });
}

// --- attributes --------------------------------------------------------------------
const openAttributes = new Set(); // classes whose attribute list stays open across reloads

function attributeLine(cls, definition, index) {
  const what = definition.type === "choice" ? `choice of ${definition.choices.join(", ")}` : definition.type;
  return el("li", {},
    el("strong", {}, definition.name), ` · ${what}${definition.required ? " · required on submit" : ""}`,
    isOwner ? [" ", el("button", {
      type: "button", class: "link", "aria-label": `Remove the attribute ${definition.name} of ${cls.name}`,
      onclick: () => patch(cls, { attributes: cls.attributes.filter((_, i) => i !== index) },
        () => `Removed the attribute ${definition.name} of ${cls.name}.`),
    }, "Remove")] : null);
}

function attributeForm(cls) {
  const choices = el("input", { name: "choices", placeholder: "wheat, canola", "aria-label": "Choices, comma separated" });
  const choicesLabel = el("label", { hidden: true }, "Choices ", choices);
  const type = el("select", {
    name: "type", "aria-label": "Type",
    onchange: (e) => { choicesLabel.hidden = e.target.value !== "choice"; },
  }, TYPES.map((t) => el("option", { value: t }, t)));
  return el("form", {
    class: "inline attribute-form", "aria-label": `New attribute of ${cls.name}`,
    onsubmit: (e) => {
      e.preventDefault();
      const form = e.target;
      const definition = { name: form.elements.name.value.trim(), type: type.value, required: form.elements.required.checked };
      if (definition.type === "choice") definition.choices = choices.value.split(",").map((c) => c.trim()).filter(Boolean);
      patch(cls, { attributes: [...cls.attributes, definition] }, () => `Added the attribute ${definition.name} to ${cls.name}.`);
    },
  },
  el("label", {}, "Name ", el("input", { name: "name", required: true, maxlength: "64" })),
  el("label", {}, "Type ", type),
  choicesLabel,
  el("label", {}, el("input", { type: "checkbox", name: "required" }), " required on submit"),
  el("button", { class: "button secondary", type: "submit" }, "Add attribute"));
}

function attributesOf(cls) {
  if (!isOwner && !cls.attributes.length) return null;
  return el("details", { class: "class-attributes", open: openAttributes.has(cls.id) || null,
    ontoggle: (e) => { if (e.target.open) openAttributes.add(cls.id); else openAttributes.delete(cls.id); } },
  el("summary", {}, cls.attributes.length
    ? `Attributes: ${cls.attributes.map((d) => d.name).join(", ")}` : "Attributes: none"),
  el("ul", {}, cls.attributes.map((d, i) => attributeLine(cls, d, i))),
  isOwner ? attributeForm(cls) : null);
}
// --- the list ----------------------------------------------------------------------
function item(cls, index, key) {
  const used = plural(cls.annotation_count, "annotation");
  const actions = isOwner ? el("span", { class: "class-actions" },
    el("input", {
      type: "color", value: cls.colour, "aria-label": `Colour of ${cls.name}`,
      onchange: (e) => patch(cls, { colour: e.target.value }),
    }),
    el("button", { type: "button", class: "button secondary", dataset: { move: "up" }, disabled: index === 0,
      "aria-label": `Move ${cls.name} up`, title: "Move up", onclick: () => move(index, -1) }, "↑"),
    el("button", { type: "button", class: "button secondary", dataset: { move: "down" }, disabled: index === classes.length - 1,
      "aria-label": `Move ${cls.name} down`, title: "Move down", onclick: () => move(index, 1) }, "↓"),
    el("button", { type: "button", class: "link", onclick: () => archive(cls, !cls.archived) },
      cls.archived ? "Unarchive" : "Archive"),
    el("button", { type: "button", class: "link danger", "aria-label": `Delete ${cls.name}`, onclick: () => remove(cls) },
      "Delete")) : null;
  return el("li", { class: cls.archived ? "archived" : null, dataset: { classId: cls.id } },
    el("div", { class: "class-row" },
      el("span", { class: "class-key", title: key ? `Key ${key} on the annotate page` : "No key" },
        key ? el("kbd", {}, String(key)) : "–"),
      el("span", { class: "swatch", style: `background:${cls.colour}` }),
      nameField(cls),
      el("span", { class: "muted", dataset: { testid: `uses-${cls.id}` } }, `${used}${cls.archived ? " · archived" : ""}`),
      actions),
    attributesOf(cls));
}

function render(data) {
  classes = data;
  let key = 0;
  list.replaceChildren(...classes.map((c, i) => item(c, i, c.archived || key >= 9 ? null : ++key)));
  if (!classes.length) list.replaceChildren(el("li", { class: "muted" }, "No label classes yet."));
}

export async function load() {
  const result = await api(`${base}/label-classes/`);
  if (!result.ok) { say(errorText(result), "error"); return; }
  render(result.data.results || result.data);
}

const classForm = document.getElementById("class-form");
if (classForm) {
  classForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: classForm.elements.name.value.trim(), colour: classForm.elements.colour.value };
    const r = await api(`${base}/label-classes/`, { method: "POST", body });
    if (!r.ok) { toast(errorText(r), "error"); return; }
    classForm.elements.name.value = "";
    say(`Added ${r.data.name}, last in the list.`);
    load();
  });
}

// --- the label rule (owners) --------------------------------------------------------
const rule = document.getElementById("require-label");
if (rule) {
  rule.addEventListener("change", async () => {
    const r = await api(`${base}/`, { method: "PATCH", body: { require_label: rule.checked } });
    if (!r.ok) { toast(errorText(r), "error"); rule.checked = !rule.checked; return; }
    toast(r.data.require_label
      ? "Annotations now need a label class before they are submitted."
      : "Annotations may now be submitted without a label class.");
  });
}

load();
