// Annotate page: SAM2 prompts (click, Alt/right click, drag = box) → preview polygon →
// Enter accepts into an editable polygon (Leaflet-Geoman) → label, save, submit.
//   page.js      what the HTML tells the script (ids, limits)
//   state.js     the one state object and its named transitions
//   layers.js    the map and its layers
//   prompting.js SAM2 clicks and boxes → POST /api/v1/images/{id}/segment → preview
//   editing.js   the selected annotation: vertex edits, the save queue, refusals by error code
//   vertices.js  vertex handles near the pointer, for outlines too large for one per vertex
//   history.js   undo / redo of prompts and edits
//   overlays.js  annotations in view, assigned areas
//   areas.js     assigned areas: drawn and given out by reviewers and owners, ?area=ID, "Next task"
//   comments.js  comment threads: pins on the map, the selected annotation's in the panel
//   tools.js     prompt / polygon / pan
//   keys.js      the shortcut table: key handler and help
//   list.js      the annotation list: this image or the project, filters, counts, [ and ]
//   legend.js    what outline and fill colours mean; layer switches, opacity, imagery
//   view.js      panel and status bar, drawn from the state
//   attributes.js the selected annotation's label attributes; why a submit was refused by the label rules
//   drafts.js    drafting runs (reviewers, owners): start, progress, the run's drafts by risk, N/A/R, bulk by risk
//   focus.js     while the image is not fully encoded: its view → encode-focus, "ready here" status
import { loadClasses, loadImage, replaceTiles, showImage } from "../mapbase.js";
import { depth } from "./history.js";
import { imageLayers, map } from "./layers.js";
import { focusId, imageId, projectId, $ } from "./page.js";
import { state, transition } from "./state.js";
import "./view.js";
import "./prompting.js";
import { focus } from "./editing.js";
import { loadAnnotations } from "./overlays.js";
import { startAreas } from "./areas.js";
import { loadComments } from "./comments.js";
import { startDrafts } from "./drafts.js";
import "./keys.js";
import "./list.js";
import "./legend.js";
import "./attributes.js";
import "./focus.js";
import { showFailedImage } from "./failed.js";
import { bandsEditable, openBandsDialog } from "../bands.js";

const POLL_MS = 1500;
let pollTimer = null;
// Owners only (the template leaves it out for others): bands and stretch, then tiles with the new ones.
const bandsButton = $("bands-open");
if (bandsButton) {
  bandsButton.addEventListener("click", () => openBandsDialog(state.image, {
    onSaved: (image) => {
      replaceTiles(map, image, imageLayers);
      pollImage();
    },
  }));
}

/** Show the image; poll while it is being ingested or encoded. */
async function pollImage() {
  clearTimeout(pollTimer);
  let image;
  try {
    image = await loadImage(imageId);
  } catch (error) {
    $("image-status").textContent = `Could not load the image: ${error.message}`;
    return;
  }
  transition.imageLoaded(image);
  if (image.status === "failed") {
    showFailedImage(image);
    return;
  }
  if (bandsButton) bandsButton.hidden = !bandsEditable(image);
  showImage(map, image, imageLayers);
  const jobRunning = image.job && ["queued", "running"].includes(image.job.status);
  if (!["encoded", "failed"].includes(image.status) && (jobRunning || image.status !== "ready")) pollTimer = setTimeout(pollImage, POLL_MS);
}

async function start() {
  transition.classesLoaded(await loadClasses(projectId));
  await pollImage();
  if (focusId) await focus(focusId);
  await startAreas();
  await Promise.all([loadAnnotations(), loadComments(), startDrafts()]);
  // The page has its first view and data: tests wait for this state instead of for time.
  document.body.dataset.ready = "true";
}

// For tests and the console: a plain copy of what the page holds.
window.geoprompt = {
  map,
  state: () => ({
    prompt: state.prompt, tool: state.tool, labelId: state.labelId, segments: state.segmentsDone,
    preview: state.preview && { geometry: state.preview.geometry, properties: state.preview.properties },
    current: state.current && {
      id: state.current.id, version: state.current.version, state: state.current.state,
      labelId: state.current.labelId, allowed: [...state.current.allowed],
    },
    ...depth(),
  }),
};
// The Regularise action in the panel (its own module; nothing here but the import).
import "./regularise.js";
start();
