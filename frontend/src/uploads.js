// Adding imagery on the project page (owners): resumable uploads through the tus protocol
// (tus-js-client against /api/v1/projects/{id}/uploads/), and import by URL.
//
// Resuming: tus-js-client keeps each unfinished upload's URL in this browser's localStorage,
// under a fingerprint of the file (name, type, size, modification time) and the endpoint.
// A browser cannot reopen a file by itself after a reload, so the page lists the unfinished
// uploads of this project with how much the server holds, and choosing the same file again
// continues from there.
import { defaultOptions, Upload } from "tus-js-client";
import { api, csrfToken, el, errorText, percent } from "./common.js";

const MIB = 1048576;
function mib(bytes) {
  if (bytes < MIB) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 * MIB) return `${(bytes / MIB).toFixed(1)} MiB`;
  return `${(bytes / (1024 * MIB)).toFixed(2)} GiB`;
}

function tusError(error) {
  const response = error && error.originalResponse;
  if (response) {
    let body = {};
    try { body = JSON.parse(response.getBody() || "{}"); } catch { /* not JSON */ }
    return errorText({ status: response.getStatus(), data: body });
  }
  return "the connection was lost";
}

/** The upload form: every file goes through tus, with a progress bar in bytes and percent. */
export function setupUploads({ base, onUploaded }) {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const endpoint = `${base}/uploads/`;
  const chunkSize = Number(form.dataset.chunkBytes) || 32 * MIB;
  const bar = document.getElementById("upload-progress");
  const note = document.getElementById("upload-note");
  const pending = document.getElementById("upload-pending");
  let current = null;

  async function showUnfinished() {
    const entries = (await defaultOptions.urlStorage.findAllUploads())
      .filter((e) => typeof e.uploadUrl === "string" && new URL(e.uploadUrl, location.href).pathname.startsWith(endpoint));
    const items = [];
    for (const entry of entries) {
      if (current && current.url === entry.uploadUrl) continue;
      const response = await fetch(entry.uploadUrl, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" }, credentials: "same-origin" });
      if (!response.ok) {
        // Finished, cancelled or expired on the server: nothing left to resume.
        if (response.status === 404 || response.status === 410) await defaultOptions.urlStorage.removeUpload(entry.urlStorageKey);
        continue;
      }
      const offset = Number(response.headers.get("Upload-Offset")) || 0;
      const length = Number(response.headers.get("Upload-Length")) || entry.size || 0;
      if (length && offset >= length) {
        await defaultOptions.urlStorage.removeUpload(entry.urlStorageKey);  // complete: its image is in the list
        continue;
      }
      const name = (entry.metadata && entry.metadata.filename) || "a file";
      items.push(el("li", { dataset: { testid: "unfinished-upload" } },
        el("strong", {}, name), ` · ${percent(length ? offset / length : 0)} uploaded (${mib(offset)} of ${mib(length)})`,
        ` · started ${new Date(entry.creationTime).toLocaleString()} `,
        el("button", {
          class: "link danger", type: "button", "aria-label": `Discard the unfinished upload of ${name}`,
          onclick: async () => {
            await fetch(entry.uploadUrl, { method: "DELETE", headers: { "Tus-Resumable": "1.0.0", "X-CSRFToken": csrfToken() }, credentials: "same-origin" });
            await defaultOptions.urlStorage.removeUpload(entry.urlStorageKey);
            showUnfinished();
          },
        }, "Discard")));
    }
    pending.hidden = items.length === 0;
    pending.replaceChildren(...(items.length ? [
      el("p", {}, "Unfinished uploads from this browser: choose the same file again to continue where it stopped."),
      el("ul", {}, items)] : []));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.elements.file.files[0];
    if (!file || current) return;
    bar.hidden = false;
    bar.value = 0;
    note.textContent = `Uploading ${file.name}…`;
    const upload = new Upload(file, {
      endpoint,
      chunkSize,
      retryDelays: [0, 1000, 3000, 5000],
      metadata: { filename: file.name, name: file.name },
      headers: { "X-CSRFToken": csrfToken() },
      removeFingerprintOnSuccess: true,
      onProgress: (sent, total) => {
        bar.value = total ? sent / total : 0;
        note.textContent = `Uploading ${file.name}: ${percent(total ? sent / total : 0)} · ${mib(sent)} of ${mib(total)}`;
      },
      onSuccess: () => {
        current = null;
        bar.value = 1;
        note.textContent = `Uploaded ${file.name}; ingest queued.`;
        form.reset();
        onUploaded();
        showUnfinished();
      },
      onError: (error) => {
        current = null;
        note.textContent = `Upload of ${file.name} stopped at ${percent(bar.value)}: ${tusError(error)}. Choose the file again to continue.`;
        showUnfinished();
      },
    });
    current = upload;
    const previous = await upload.findPreviousUploads();
    if (previous.length) {
      upload.resumeFromPreviousUpload(previous[0]);
      note.textContent = `Continuing the upload of ${file.name}…`;
    }
    upload.start();
    showUnfinished();
  });
  showUnfinished();
}

/** The "Add by URL" form: s3://bucket/key, an https:// GeoTIFF or a STAC item (its asset). */
export function setupImportByUrl({ base, onImported }) {
  const form = document.getElementById("import-form");
  if (!form) return;
  const note = document.getElementById("import-note");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { url: form.elements.url.value.trim() };
    const asset = form.elements.asset.value.trim();
    if (asset) body.asset = asset;
    note.textContent = "Checking the URL…";
    const result = await api(`${base}/images/import/`, { method: "POST", body });
    if (!result.ok) {
      note.textContent = `Not imported: ${errorText(result)}`;
      return;
    }
    note.textContent = `Importing ${result.data.image.name}: the raster is copied, then ingested.`;
    form.reset();
    onImported();
  });
}
