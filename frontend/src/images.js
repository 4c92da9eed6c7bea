// Actions on one image shared by the project page and the annotate page.
import { api, el, errorText, toast } from "./common.js";
import { confirmDialog, plural } from "./dialogs.js";

/**
 * Delete an image after a confirmation that says how many annotations go with it (its COG,
 * its SAM2 features and every member's annotations on it). Resolves to true once deleted.
 */
export async function deleteImage(image) {
  const found = await api(`/api/v1/projects/${image.project}/annotations/?image=${image.id}&page_size=1`);
  if (!found.ok) { toast(errorText(found), "error"); return false; }
  const count = found.data.count;
  const confirmed = await confirmDialog({
    title: "Delete this image?",
    message: [
      el("p", {}, el("strong", {}, image.name), " and everything made from it will be deleted:"),
      el("ul", {},
        el("li", { dataset: { testid: "annotation-count" } },
          `${plural(count, "annotation")} on it, by every member of the project`),
        el("li", {}, "its Cloud-Optimized GeoTIFF and SAM2 features")),
      el("p", {}, "This cannot be undone."),
    ],
    confirmLabel: "Delete image",
  });
  if (!confirmed) return false;
  const r = await api(`/api/v1/images/${image.id}/`, { method: "DELETE" });
  if (!r.ok) { toast(errorText(r), "error"); return false; }
  toast(`Deleted ${image.name}${count ? ` and ${plural(count, "annotation")}` : ""}.`);
  return true;
}
