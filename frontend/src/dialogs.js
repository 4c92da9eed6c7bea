// Small page helpers for set-up and administration: a confirmation dialog that says what
// goes, a one-time link to copy, and a message carried to the next page.
import { el, toast } from "./common.js";

/**
 * Ask before something that cannot be undone. Resolves to true when the user confirms.
 * ``message`` is text or nodes (user strings reach the page as text only).
 */
export function confirmDialog({ title, message, confirmLabel = "Delete", danger = true }) {
  return new Promise((resolve) => {
    const confirmButton = el("button", { class: danger ? "button danger" : "button", type: "submit", value: "yes" },
      confirmLabel);
    const dialog = el("dialog", { class: "confirm", "aria-labelledby": "confirm-title" },
      el("form", { method: "dialog", class: "stacked" },
        el("h2", { id: "confirm-title" }, title),
        el("div", { class: "confirm-message" }, message),
        el("div", { class: "actions" },
          el("button", { class: "button secondary", type: "submit", value: "no", autofocus: true }, "Cancel"),
          confirmButton)));
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "yes");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** "1 image", "3 images", "no images". */
export function plural(n, one, many = `${one}s`) {
  return n === 0 ? `no ${many}` : `${n} ${n === 1 ? one : many}`;
}

/** Copy text to the clipboard; falls back to selecting the field where the API is missing (plain http). */
async function copy(text, field) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    field.select();
    return document.execCommand && document.execCommand("copy");
  }
}

/** A read-only field holding a one-time link, with a Copy button and a note. */
export function linkBox(url, note, label = "Link") {
  const field = el("input", { type: "text", readonly: true, value: url, "aria-label": label, class: "link-field" });
  field.addEventListener("focus", () => field.select());
  const button = el("button", {
    class: "button", type: "button",
    onclick: async () => {
      const copied = await copy(url, field);
      toast(copied ? "Link copied." : "Select the link and copy it.");
    },
  }, "Copy link");
  return el("div", { class: "link-box", role: "group", "aria-label": label },
    el("div", { class: "link-row" }, field, button),
    note ? el("p", { class: "muted" }, note) : null);
}

const FLASH_KEY = "geoprompt-flash";

/** Show ``message`` on the next page this tab opens (after a redirect by the page itself). */
export function flashNext(message) {
  try { sessionStorage.setItem(FLASH_KEY, message); } catch { /* storage disabled: no message */ }
}

/** Show and forget the message a previous page left (see flashNext). */
export function showFlash() {
  let message = null;
  try {
    message = sessionStorage.getItem(FLASH_KEY);
    sessionStorage.removeItem(FLASH_KEY);
  } catch { /* storage disabled */ }
  if (message) toast(message);
}

/** A date-time as the reader's locale writes it, e.g. for a link's expiry. */
export function when(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "";
}
