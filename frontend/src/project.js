// Project page: images with live ingest/encode progress, upload with a progress bar,
// members and roles, label classes, and the project's SAM2 model (owners change them).
import { api, el, errorText, percent, toast } from "./common.js";

const root = document.getElementById("project");
const projectId = root.dataset.projectId;
const isOwner = root.dataset.role === "owner";
const base = `/api/v1/projects/${projectId}`;

// --- images -----------------------------------------------------------------------
const imagesBody = document.getElementById("image-rows");
const BUSY = new Set(["uploaded", "ingesting", "encoding"]);
let pollTimer = null;

function jobCell(image) {
  const job = image.job;
  const active = job && (job.status === "queued" || job.status === "running");
  if (!active) {
    if (image.status === "encoded" && image.encoding) {
      return el("span", { class: "muted" }, `${image.encoding.encoded_windows} window(s) encoded`);
    }
    return job && job.status === "failed" ? el("span", { class: "bad" }, `${job.kind} failed`) : "";
  }
  const label = `${job.kind} ${percent(job.progress)}`;
  return el("div", { class: "job" },
    el("progress", { max: "1", value: String(job.progress || 0), "aria-label": label, dataset: { testid: `progress-${image.id}` } }),
    el("span", { class: "muted" }, `${label}${job.message ? ` · ${job.message}` : ""}`));
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
    el("td", {}, model));
}

async function loadImages() {
  clearTimeout(pollTimer);
  const result = await api(`${base}/images/?limit=200`);
  if (!result.ok) {
    imagesBody.replaceChildren(el("tr", {}, el("td", { colspan: 7 }, errorText(result))));
    return;
  }
  const images = result.data.results;
  imagesBody.replaceChildren(...(images.length ? images.map(imageRow)
    : [el("tr", {}, el("td", { colspan: 7 }, "No images yet."))]));
  const busy = images.some((i) => BUSY.has(i.status) || (i.job && ["queued", "running"].includes(i.job.status)));
  if (busy) pollTimer = setTimeout(loadImages, 1000);
}

// Upload through XHR: fetch() cannot report upload progress.
const uploadForm = document.getElementById("upload-form");
if (uploadForm) {
  const bar = document.getElementById("upload-progress");
  const note = document.getElementById("upload-note");
  uploadForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = uploadForm.elements.file.files[0];
    if (!file) return;
    const data = new FormData();
    data.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${base}/images/`);
    xhr.setRequestHeader("X-CSRFToken", uploadForm.elements.csrfmiddlewaretoken.value);
    xhr.setRequestHeader("Accept", "application/json");
    bar.hidden = false;
    bar.value = 0;
    note.textContent = `Uploading ${file.name}…`;
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        bar.value = e.loaded / e.total;
        note.textContent = `Uploading ${file.name}: ${percent(e.loaded / e.total)} of ${(e.total / 1048576).toFixed(1)} MiB`;
      }
    });
    xhr.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 201) {
        bar.value = 1;
        note.textContent = `Uploaded ${body.name}; ingest queued.`;
        uploadForm.reset();
        loadImages();
      } else {
        note.textContent = `Upload refused: ${errorText({ status: xhr.status, data: body })}`;
      }
    });
    xhr.addEventListener("error", () => { note.textContent = "Upload failed: the connection was lost."; });
    xhr.send(data);
  });
}

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

// --- label classes ----------------------------------------------------------------
const classesBody = document.getElementById("class-rows");

async function loadClasses() {
  const result = await api(`${base}/label-classes/`);
  if (!result.ok) return;
  const classes = result.data.results || result.data;
  classesBody.replaceChildren(...classes.map((c, i) => el("tr", {},
    el("td", {}, String(i + 1)),
    el("td", {}, el("span", { class: "swatch", style: `background:${c.colour}` }), " ", c.name),
    el("td", {}, isOwner ? el("input", {
      type: "color", value: c.colour, "aria-label": `Colour of ${c.name}`,
      onchange: async (e) => {
        const r = await api(`${base}/label-classes/${c.id}/`, { method: "PATCH", body: { colour: e.target.value } });
        if (!r.ok) toast(errorText(r), "error"); else loadClasses();
      },
    }) : c.colour),
    el("td", {}, isOwner ? el("button", {
      class: "link", type: "button",
      onclick: async () => {
        const r = await api(`${base}/label-classes/${c.id}/`, { method: "DELETE" });
        if (!r.ok) toast(errorText(r), "error"); else loadClasses();
      },
    }, "Delete") : ""))));
  if (!classes.length) classesBody.replaceChildren(el("tr", {}, el("td", { colspan: 4 }, "No label classes yet.")));
}

const classForm = document.getElementById("class-form");
if (classForm) {
  classForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: classForm.elements.name.value.trim(), colour: classForm.elements.colour.value };
    const r = await api(`${base}/label-classes/`, { method: "POST", body });
    if (!r.ok) toast(errorText(r), "error");
    else { classForm.elements.name.value = ""; loadClasses(); }
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

loadImages();
loadMembers();
loadClasses();
