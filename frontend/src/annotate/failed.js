// A failed image on the annotate page: its error in words and, for owners, Delete; the map,
// its tools and their shortcuts are taken away, since nothing can be drawn on an image
// without a Cloud-Optimized GeoTIFF.
import { el, typingInField } from "../common.js";
import { flashNext } from "../dialogs.js";
import { deleteImage } from "../images.js";
import { $, root } from "./page.js";

let shown = false;

// Captured before the page's own shortcut handlers, so that no key reaches a tool.
document.addEventListener("keydown", (event) => {
  if (shown && !typingInField(event) && !event.target.closest("dialog")) event.stopImmediatePropagation();
}, true);

/** Replace the map and its tools with the image's error (``image``: the API's image detail). */
export function showFailedImage(image) {
  if (shown) return;
  shown = true;
  const projectUrl = `/projects/${image.project}/`;
  const actions = [el("a", { class: "button secondary", href: projectUrl }, "Back to the project")];
  if (root.dataset.role === "owner") {
    actions.push(el("button", {
      class: "button danger", type: "button",
      onclick: async () => {
        if (!(await deleteImage(image))) return;
        flashNext(`Deleted ${image.name}.`);
        window.location.assign(projectUrl);
      },
    }, "Delete image…"));
  }
  const job = image.job && image.job.status === "failed" ? image.job : null;
  const panel = el("main", { class: "narrow image-failed", dataset: { testid: "image-failed" } },
    el("h1", {}, "This image could not be prepared"),
    el("p", { class: "bad", role: "alert", dataset: { testid: "image-error" } },
      image.error || (job && job.error) || "Its ingest failed without saying why."),
    el("p", { class: "muted" }, job ? `The ${job.kind} job failed. ` : "",
      root.dataset.role === "owner"
        ? "Delete it and upload the file again once it is fixed (a GeoTIFF with a CRS, within the size limits)."
        : "The project's owners can delete it and upload a fixed file."),
    el("p", { class: "error-ways" }, ...actions));
  document.querySelector(".workspace").hidden = true;
  // The status bar speaks of tools and the model: nothing here uses them.
  document.querySelector(".map-page .bar").hidden = true;
  $("content").prepend(panel);
}
