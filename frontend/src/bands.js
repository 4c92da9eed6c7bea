// Band mapping and stretch of one image, for its project's owners: which source bands the
// map and SAM2 see as red, green and blue, and each one's low/high values (source units),
// with a preview rendered by the tiler before anything is saved. Saving goes through
// PATCH /api/v1/images/{id}/, which queues the SAM2 encode again.
import { api, el, errorText, toast } from "./common.js";

const CHANNELS = ["Red", "Green", "Blue"];
// Side of the preview in pixels: enough to judge colours, small enough to render at once.
const PREVIEW_MAX_SIZE = 480;

/** Whether the dialog can work on ``image``: it has bands, statistics and a COG to preview. */
export function bandsEditable(image) {
  return Boolean(image.band_count && image.band_stats && image.band_stats.length && image.tiles && image.status !== "failed");
}

/** A value in source units, short but exact enough to tell bands apart (4 significant digits). */
function short(value) {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

/** The default stretch of a band: its p2/p98, as ingest chooses it (a constant band gets high = low + 1). */
export function defaultStretch(stats) {
  const low = Number(stats.p2);
  const high = Number(stats.p98);
  return [low, high > low ? high : low + 1];
}

/**
 * The tiler's preview of the whole image with these bands and stretch (a PNG, the image's own
 * CRS, at most PREVIEW_MAX_SIZE px on a side). The token of the image's tile URL names the COG.
 */
export function previewUrl(image, mapping, stretch) {
  const template = image.tiles.url_template;
  const base = template.slice(0, template.indexOf("/tiles/"));
  const query = new URLSearchParams();
  for (const band of mapping) query.append("bidx", String(band));
  for (const [low, high] of stretch) query.append("rescale", `${low},${high}`);
  query.set("max_size", String(PREVIEW_MAX_SIZE));
  return `${base}/preview.png?${query}`;
}

/**
 * Open the dialog for ``image`` (the API's image detail). ``onSaved(image)`` gets the saved
 * image (its tile URL renders the new bands). Resolves when the dialog closes.
 */
export function openBandsDialog(image, { onSaved } = {}) {
  const statsOf = new Map(image.band_stats.map((s) => [s.band, s]));
  const bandNumbers = [...statsOf.keys()].sort((a, b) => a - b);
  const saved = { mapping: [...image.band_mapping], stretch: image.stretch.map((pair) => [...pair]) };

  const rows = CHANNELS.map((channel, i) => {
    const select = el("select", { "aria-label": `${channel} band`, name: `band-${i}` },
      bandNumbers.map((b) => el("option", { value: String(b), selected: b === saved.mapping[i] }, `Band ${b}`)));
    const low = el("input", { type: "number", step: "any", "aria-label": `${channel} low`, value: String(saved.stretch[i][0]) });
    const high = el("input", { type: "number", step: "any", "aria-label": `${channel} high`, value: String(saved.stretch[i][1]) });
    const range = el("span", { class: "muted" });
    return { channel, select, low, high, range };
  });

  const preview = el("img", { class: "bands-preview-image", alt: "Preview of the image with these bands and stretch" });
  const previewNote = el("figcaption", { class: "muted", role: "status" }, "Rendering the preview…");
  const problem = el("p", { class: "errorlist", role: "alert" });
  const saveButton = el("button", { class: "button", type: "button" }, "Save and encode again");
  const cancelButton = el("button", { class: "button secondary", type: "button" }, "Cancel");
  const resetButton = el("button", { class: "link", type: "button" }, "Reset every band to its p2–p98");

  const dialog = el("dialog", { class: "bands-dialog", "aria-labelledby": "bands-title" },
    el("h2", { id: "bands-title" }, "Bands and stretch"),
    el("p", { class: "muted" }, el("strong", {}, image.name), ` has ${image.band_count} band${image.band_count === 1 ? "" : "s"}. `
      + "The map and SAM2 see the same three; each band's values from low to high become 0 to 255."),
    el("table", { class: "list bands-table" },
      el("thead", {}, el("tr", {}, el("th", {}, "Channel"), el("th", {}, "Band"), el("th", {}, "Low"), el("th", {}, "High"),
        el("th", {}, "Band values"))),
      el("tbody", {}, rows.map((r) => el("tr", {},
        el("th", { scope: "row" }, r.channel), el("td", {}, r.select), el("td", {}, r.low), el("td", {}, r.high),
        el("td", {}, r.range))))),
    el("p", {}, resetButton),
    el("figure", { class: "bands-preview" }, preview, previewNote),
    problem,
    el("p", { class: "muted" }, "Saving deletes the image's SAM2 features and encodes it again with these bands."),
    el("div", { class: "actions" }, cancelButton, saveButton));

  /** The chosen mapping and stretch, or a sentence saying what is wrong with them. */
  function chosen() {
    const mapping = rows.map((r) => Number(r.select.value));
    const stretch = rows.map((r) => [Number(r.low.value), Number(r.high.value)]);
    for (const [i, r] of rows.entries()) {
      if (r.low.value === "" || r.high.value === "" || !stretch[i].every(Number.isFinite)) {
        return { error: `${r.channel}: give a low and a high value.` };
      }
      if (!(stretch[i][1] > stretch[i][0])) return { error: `${r.channel}: the high value must be above the low value.` };
    }
    return { mapping, stretch };
  }

  function showRanges() {
    for (const r of rows) {
      const s = statsOf.get(Number(r.select.value));
      r.range.textContent = `p2–p98 ${short(s.p2)}–${short(s.p98)} · min–max ${short(s.min)}–${short(s.max)}`;
    }
  }

  function refresh() {
    showRanges();
    const choice = chosen();
    problem.textContent = choice.error || "";
    const unchanged = !choice.error && JSON.stringify(choice.mapping) === JSON.stringify(saved.mapping)
      && JSON.stringify(choice.stretch) === JSON.stringify(saved.stretch);
    saveButton.disabled = Boolean(choice.error) || unchanged;
    saveButton.title = choice.error || (unchanged ? "Nothing changed yet." : "");
    if (choice.error) return;
    const url = previewUrl(image, choice.mapping, choice.stretch);
    if (preview.getAttribute("src") === url) return;
    preview.dataset.state = "loading";
    previewNote.textContent = "Rendering the preview…";
    preview.src = url;
  }

  preview.addEventListener("load", () => {
    preview.dataset.state = "loaded";
    const choice = chosen();
    previewNote.textContent = choice.error ? "" : `Preview: bands ${choice.mapping.join(", ")} as red, green, blue.`;
  });
  preview.addEventListener("error", () => {
    preview.dataset.state = "failed";
    previewNote.textContent = "The tiler could not render this preview; reload the page and try again.";
  });

  for (const r of rows) {
    r.select.addEventListener("change", () => {
      // A new band starts from its own p2/p98: the previous band's values mean nothing for it.
      const [low, high] = defaultStretch(statsOf.get(Number(r.select.value)));
      r.low.value = String(low);
      r.high.value = String(high);
      refresh();
    });
    r.low.addEventListener("change", refresh);
    r.high.addEventListener("change", refresh);
  }
  resetButton.addEventListener("click", () => {
    for (const r of rows) {
      const [low, high] = defaultStretch(statsOf.get(Number(r.select.value)));
      r.low.value = String(low);
      r.high.value = String(high);
    }
    refresh();
  });
  cancelButton.addEventListener("click", () => dialog.close());
  saveButton.addEventListener("click", async () => {
    const choice = chosen();
    if (choice.error) return;
    saveButton.disabled = true;
    const result = await api(`/api/v1/images/${image.id}/`, {
      method: "PATCH", body: { band_mapping: choice.mapping, stretch: choice.stretch },
    });
    if (!result.ok) {
      problem.textContent = errorText(result);
      saveButton.disabled = false;
      return;
    }
    dialog.close();
    toast(`Saved: ${result.data.name} shows bands ${result.data.band_mapping.join(", ")}; SAM2 encodes it again.`);
    if (onSaved) onSaved(result.data);
  });

  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve();
    });
    document.body.append(dialog);
    refresh();
    dialog.showModal();
  });
}
