// Project page: images with live ingest/encode progress, resumable upload with a progress bar, import by URL,
// members and roles, invitation links, label classes (labels.js), the project's SAM2 model, its name,
// and deleting images or the whole project (owners change them).
import { api, el, errorText, percent, toast } from "./common.js";
import { confirmDialog, flashNext, linkBox, plural, showFlash, when } from "./dialogs.js";
import "./labels.js"; // label classes, their attributes and the label rule
import { showProjectProgress } from "./progress.js";
import { bandsEditable, openBandsDialog } from "./bands.js";
import { deleteImage } from "./images.js";
import { setupImportByUrl, setupUploads } from "./uploads.js";

const root = document.getElementById("project");
const projectId = root.dataset.projectId;
const isOwner = root.dataset.role === "owner";
const base = `/api/v1/projects/${projectId}`;

// --- images -----------------------------------------------------------------------
const imagesBody = document.getElementById("image-rows");
const BUSY = new Set(["uploaded", "ingesting", "encoding"]);
const IMAGE_COLUMNS = isOwner ? 8 : 7;
let pollTimer = null;

function jobCell(image) {
  const job = image.job;
  const active = job && (job.status === "queued" || job.status === "running");
  if (!active) {
    if (image.status === "encoded" && image.encoding) {
      return el("span", { class: "muted" }, `${image.encoding.encoded_windows} window(s) encoded`);
    }
    return job && job.status === "failed"
      ? el("span", {}, el("span", { class: "bad", title: job.error || "" }, `${job.kind} failed`), " ", retryButton(job))
      : "";
  }
  // Running, but its worker stopped reporting: no ETA to trust; a worker will take it over.
  if (job.stalled) {
    return el("div", { class: "job" },
      el("span", { class: "muted", dataset: { testid: `waiting-${image.id}` } },
        `${job.kind} waiting for a worker · the last one stopped responding ${Math.round(job.heartbeat_age_s || 0)} s ago`),
      " ", retryButton(job));
  }
  const label = `${job.kind} ${percent(job.progress)}`;
  // A large image encodes for a long while, yet it can be annotated at once: the windows
  // clicked, then those in view, are encoded first.
  const early = job.kind === "encode" && image.status === "encoding"
    ? el("div", { class: "muted", dataset: { testid: `annotate-now-${image.id}` } },
      "You can annotate it now: the areas you click are encoded first.")
    : null;
  return el("div", { class: "job" },
    el("progress", { max: "1", value: String(job.progress || 0), "aria-label": label, dataset: { testid: `progress-${image.id}` } }),
    el("span", { class: "muted" }, `${label}${job.message ? ` · ${job.message}` : ""}`), early);
}

// Owners queue a failed or stuck job again (the API refuses one whose worker still reports).
function retryButton(job) {
  if (!isOwner) return null;
  return el("button", {
    class: "link", type: "button", dataset: { testid: `retry-${job.id}` },
    onclick: async () => {
      const r = await api(`/api/v1/jobs/${job.id}/retry/`, { method: "POST" });
      if (!r.ok) { toast(errorText(r), "error"); return; }
      toast(`The ${job.kind} job is queued again.`);
      loadImages();
    },
  }, "Retry");
}

function imageRow(image) {
  const size = image.width ? `${image.width} × ${image.height}` : "";
  const model = image.encoding ? `${image.encoding.model}${image.encoding.untrained ? " (untrained)" : ""}` : "";
  return el("tr", { dataset: { imageId: image.id, status: image.status } },
    el("td", {}, el("a", { href: `/images/${image.id}/map/` }, image.name)),
    el("td", { class: `status status-${image.status}`, dataset: { testid: `status-${image.id}` } },
      image.status, image.error ? `: ${image.error}` : ""),
    el("td", {}, jobCell(image)),
    el("td", {}, size),
    el("td", {}, image.band_count ? `${image.band_count} × ${image.dtype}` : ""),
    el("td", {}, image.epsg ? `EPSG:${image.epsg}` : ""),
    el("td", {}, model),
    isOwner ? el("td", { class: "actions-cell" },
      bandsEditable(image) ? el("button", {
        class: "link", type: "button", "aria-label": `Bands and stretch of ${image.name}`,
        onclick: () => openBandsDialog(image, { onSaved: loadImages }),
      }, "Bands…") : null,
      el("button", {
        class: "link danger", type: "button", "aria-label": `Delete ${image.name}`,
        onclick: async () => { if (await deleteImage(image)) loadImages(); },
      }, "Delete")) : null);
}

async function loadImages() {
  clearTimeout(pollTimer);
  const result = await api(`${base}/images/?limit=200`);
  if (!result.ok) {
    imagesBody.replaceChildren(el("tr", {}, el("td", { colspan: IMAGE_COLUMNS }, errorText(result))));
    return;
  }
  const images = result.data.results;
  imagesBody.replaceChildren(...(images.length ? images.map(imageRow)
    : [el("tr", {}, el("td", { colspan: IMAGE_COLUMNS }, "No images yet."))]));
  const busy = images.some((i) => BUSY.has(i.status) || (i.job && ["queued", "running"].includes(i.job.status)));
  if (busy) pollTimer = setTimeout(loadImages, 1000);
}

// Adding imagery (owners): resumable uploads (tus) and import by URL (uploads.js).
setupUploads({ base, onUploaded: loadImages });
setupImportByUrl({ base, onImported: loadImages });

// --- members ------------------------------------------------------------------------
const ROLES = ["owner", "reviewer", "annotator", "viewer"];
const membersBody = document.getElementById("member-rows");

async function loadMembers() {
  const result = await api(`${base}/members/?limit=500`);
  if (!result.ok) return;
  const members = result.data.results || result.data;
  membersBody.replaceChildren(...members.map((m) => {
    const role = isOwner
      ? el("select", {
          "aria-label": `Role of ${m.username}`,
          onchange: async (e) => {
            const r = await api(`${base}/members/${m.id}/`, { method: "PATCH", body: { role: e.target.value } });
            if (!r.ok) { toast(errorText(r), "error"); e.target.value = m.role; } else toast(`${m.username} is now ${r.data.role}.`);
          },
        }, ROLES.map((r) => el("option", { value: r, selected: r === m.role }, r)))
      : m.role;
    const remove = isOwner
      ? el("button", {
          class: "link", type: "button",
          onclick: async () => {
            const r = await api(`${base}/members/${m.id}/`, { method: "DELETE" });
            if (!r.ok) toast(errorText(r), "error"); else loadMembers();
          },
        }, "Remove")
      : "";
    return el("tr", {}, el("td", {}, m.username), el("td", {}, role), el("td", {}, remove));
  }));
}

const memberForm = document.getElementById("member-form");
if (memberForm) {
  memberForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { username: memberForm.elements.username.value.trim(), role: memberForm.elements.role.value };
    const r = await api(`${base}/members/`, { method: "POST", body });
    if (!r.ok) toast(errorText(r), "error");
    else { memberForm.reset(); loadMembers(); }
  });
}

// --- invitation links (owners) -------------------------------------------------------
const invitationsBody = document.getElementById("invitation-rows");
const inviteForm = document.getElementById("invite-form");

async function loadInvitations() {
  if (!invitationsBody) return;
  const result = await api(`${base}/invitations/?limit=100`);
  if (!result.ok) return;
  const pending = result.data.results.filter((i) => i.status === "pending");
  invitationsBody.replaceChildren(...pending.map((i) => el("tr", { dataset: { invitationId: i.id } },
    el("td", {}, `Invitation as ${i.role}`),
    el("td", { class: "muted" }, `by ${i.created_by || "someone"}, until ${when(i.expires_at)}`),
    el("td", {}, el("button", {
      class: "link", type: "button",
      onclick: async () => {
        const r = await api(`${base}/invitations/${i.id}/`, { method: "DELETE" });
        if (!r.ok) toast(errorText(r), "error"); else { toast("The invitation link no longer works."); loadInvitations(); }
      },
    }, "Revoke")))));
}

if (inviteForm) {
  const linkArea = document.getElementById("invite-link");
  inviteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const role = inviteForm.elements.role.value;
    const r = await api(`${base}/invitations/`, { method: "POST", body: { role } });
    if (!r.ok) { toast(errorText(r), "error"); return; }
    linkArea.replaceChildren(linkBox(r.data.url,
      `Send this link to the person you invite as ${r.data.role}. It works once, until ${when(r.data.expires_at)}, `
      + "and is not shown again.", "Invitation link"));
    loadInvitations();
  });
}

// --- project settings (owners): name, description, deletion ---------------------------
const projectForm = document.getElementById("project-form");
if (projectForm) {
  projectForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: projectForm.elements.name.value.trim(), description: projectForm.elements.description.value.trim() };
    const r = await api(`${base}/`, { method: "PATCH", body });
    if (!r.ok) { toast(errorText(r), "error"); return; }
    document.getElementById("project-name").textContent = r.data.name;
    const description = document.getElementById("project-description");
    description.textContent = r.data.description;
    description.hidden = !r.data.description;
    const crumb = document.querySelector("header.top .crumb-project");
    if (crumb) crumb.textContent = `/ ${r.data.name}`;
    document.title = `${r.data.name} · Geoprompt`;
    toast(`Saved: the project is now called ${r.data.name}.`);
  });
}

const deleteProject = document.getElementById("delete-project");
if (deleteProject) {
  deleteProject.addEventListener("click", async () => {
    const found = await api(`${base}/`);
    if (!found.ok) { toast(errorText(found), "error"); return; }
    const project = found.data;
    const confirmed = await confirmDialog({
      title: "Delete this project?",
      message: [
        el("p", {}, el("strong", {}, project.name), " will be deleted for every member, with:"),
        el("ul", {},
          el("li", { dataset: { testid: "image-count" } }, plural(project.image_count, "image"),
            project.image_count ? ` with ${project.image_count === 1 ? "its COG" : "their COGs"} and SAM2 features` : ""),
          el("li", { dataset: { testid: "annotation-count" } }, plural(project.annotation_count, "annotation")),
          el("li", {}, "its label classes, members, invitations and exports")),
        el("p", {}, "This cannot be undone."),
      ],
      confirmLabel: "Delete project",
    });
    if (!confirmed) return;
    const r = await api(`${base}/`, { method: "DELETE" });
    if (!r.ok) { toast(errorText(r), "error"); return; }
    flashNext(`Deleted the project ${project.name}.`);
    window.location.assign("/");
  });
}

// --- SAM2 model -------------------------------------------------------------------
const modelForm = document.getElementById("model-form");
if (modelForm) {
  modelForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = modelForm.elements.sam2_model.value;
    const r = await api(`${base}/`, { method: "PATCH", body: { sam2_model: name } });
    if (!r.ok) toast(errorText(r), "error");
    else { toast(`The project now uses ${name}; images are encoded again.`); loadImages(); }
  });
}

showProjectProgress(document.getElementById("progress"), projectId);
loadImages();
loadMembers();
loadInvitations();
// A message the previous page left, e.g. the annotate page after deleting a failed image.
showFlash();
