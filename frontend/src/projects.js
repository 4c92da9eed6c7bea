// Project list page: "New project" (for those who may create projects) and the message a
// deleted project's page left.
import { api, errorText } from "./common.js";
import { showFlash } from "./dialogs.js";

showFlash();

const open = document.getElementById("new-project");
const dialog = document.getElementById("new-project-dialog");
if (open && dialog) {
  const form = document.getElementById("new-project-form");
  const error = document.getElementById("new-project-error");
  open.addEventListener("click", () => {
    error.textContent = "";
    dialog.showModal();
    form.elements.name.focus();
  });
  document.getElementById("new-project-cancel").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: form.elements.name.value.trim(), description: form.elements.description.value.trim() };
    if (!body.name) { error.textContent = "Give the project a name."; return; }
    const r = await api("/api/v1/projects/", { method: "POST", body });
    if (!r.ok) { error.textContent = errorText(r); return; }
    window.location.assign(`/projects/${r.data.id}/`);
  });
}
