// The selected annotation's label attributes, in the panel: one field per attribute its label
// class defines (text, number, choice, yes/no), saved like any other change (naming the
// version). Drafts may leave required ones empty; a submit asks for them, and for a label
// class where the project requires one: the server refuses with ``label_required`` or
// ``attributes_required`` and this module says what to do.
import { el } from "../common.js";
import { $ } from "./page.js";
import { allows, onChange, state } from "./state.js";
import { explainSubmitRefusalsWith, save } from "./editing.js";

const box = $("attributes");
const fieldsArea = $("attribute-fields");
let shown = null; // {id, labelId, values}: what the fields show

function definitionsOf(labelId) {
  const cls = state.classes.find((c) => c.id === labelId);
  return cls ? cls.attributes || [] : [];
}

function serverValues() {
  const p = state.current.savedProperties || {};
  return p.attributes || {};
}

/** The value of one field as the API wants it; null when it is empty. */
function valueOf(definition, input) {
  const raw = input.value;
  if (raw === "") return null;
  if (definition.type === "number") return Number(raw);
  if (definition.type === "boolean") return raw === "yes";
  return raw;
}

function fieldFor(definition, value, readOnly) {
  const id = `attribute-${definition.name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const common = { id, name: definition.name, disabled: readOnly, dataset: { attribute: definition.name }, onchange: saveFields };
  let input;
  if (definition.type === "choice" || definition.type === "boolean") {
    const options = definition.type === "choice" ? definition.choices.map((c) => [c, c]) : [["yes", "yes"], ["no", "no"]];
    const current = definition.type === "boolean" && value !== undefined && value !== null ? (value ? "yes" : "no") : value;
    input = el("select", common, el("option", { value: "" }, "—"),
      options.map(([v, text]) => el("option", { value: v, selected: v === current }, text)));
  } else {
    input = el("input", {
      ...common, type: definition.type === "number" ? "number" : "text", step: definition.type === "number" ? "any" : null,
      value: value === undefined || value === null ? "" : String(value),
    });
  }
  return el("div", { class: "attribute-field" },
    el("label", { for: id }, definition.name, definition.required ? el("span", { class: "muted" }, " · required on submit") : null),
    input);
}

function fieldValues() {
  const values = {};
  for (const definition of definitionsOf(shown.labelId)) {
    const input = fieldsArea.querySelector(`[data-attribute="${CSS.escape(definition.name)}"]`);
    const value = input ? valueOf(definition, input) : null;
    if (value !== null && !(typeof value === "number" && Number.isNaN(value))) values[definition.name] = value;
  }
  return values;
}

async function saveFields() {
  if (!shown || !state.current || state.current.id !== shown.id) return;
  const values = fieldValues();
  shown.values = JSON.stringify(values);
  fieldsArea.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
  await save({ attributes: values });
}

function render() {
  const current = state.current;
  const definitions = current ? definitionsOf(current.labelId) : [];
  box.hidden = !definitions.length;
  if (!definitions.length) { shown = null; fieldsArea.replaceChildren(); return; }
  const values = serverValues();
  shown = { id: current.id, labelId: current.labelId, values: JSON.stringify(values) };
  const readOnly = !allows("edit");
  fieldsArea.replaceChildren(...definitions.map((d) => fieldFor(d, values[d.name], readOnly)));
}

/** Redraw after a server answer only when it changes what the fields show (not our own save). */
function renderIfChanged() {
  const current = state.current;
  if (shown && current && shown.id === current.id && shown.labelId === current.labelId &&
      shown.values === JSON.stringify(serverValues())) {
    fieldsArea.querySelectorAll("input, select").forEach((input) => { input.disabled = !allows("edit"); });
    return;
  }
  render();
}

const RENDER = { classesLoaded: render, selected: render, deselected: render, updated: renderIfChanged, theirsLoaded: render };
onChange((what) => {
  if (["labelPicked", "selected", "deselected"].includes(what)) $("classes").classList.remove("needs-attention");
  if (RENDER[what]) RENDER[what]();
});

/**
 * Say why a submit was refused by the label rules (``label_required``, ``attributes_required``),
 * and point at what to fill in. Returns whether the refusal was one of those.
 */
function explainSubmitRefusal(result) {
  const data = result.data || {};
  if (data.code === "label_required") {
    const keys = state.classes.some((c) => !c.archived) ? " Pick one with the keys 1–9 or in the Label list, then press S again." : "";
    const message = `Not submitted: this project needs a label class on every annotation before it is submitted.${keys}`;
    $("save-status").textContent = message;
    // Said next to the class list (outlined until a class is picked), not in a passing toast.
    const list = $("classes");
    list.classList.add("needs-attention");
    (list.previousElementSibling || list).scrollIntoView({ block: "nearest" }); // the "Label" heading too
    return true;
  }
  if (data.code === "attributes_required") {
    const missing = Array.isArray(data.missing) ? data.missing : [];
    const message = `Not submitted: fill in ${missing.join(", ") || "the required attributes"} first (under Attributes), then press S again.`;
    $("save-status").textContent = message;
    let first = null;
    for (const name of missing) {
      const input = fieldsArea.querySelector(`[data-attribute="${CSS.escape(name)}"]`);
      if (!input) continue;
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
    if (first) first.focus();
    return true;
  }
  return false;
}

explainSubmitRefusalsWith(explainSubmitRefusal);
