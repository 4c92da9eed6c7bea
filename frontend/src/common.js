// Shared helpers of the pages: the JSON API with the session's CSRF token, small DOM helpers.

/** The CSRF token Django set in the ``csrftoken`` cookie (sent back as X-CSRFToken). */
export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/**
 * Call the REST API. Resolves to {ok, status, data, headers}; never throws for HTTP errors.
 * ``body`` is sent as JSON; ``ifMatch`` is the annotation version the change is based on.
 */
export async function api(url, { method = "GET", body, ifMatch } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ifMatch !== undefined && ifMatch !== null) headers["If-Match"] = `"${ifMatch}"`;
  let response;
  try {
    response = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    return { ok: false, status: 0, data: { detail: `The server could not be reached (${error.message}).` } };
  }
  let data = null;
  if (response.status !== 204) {
    const text = await response.text();
    try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text.slice(0, 300) }; }
  }
  return { ok: response.ok, status: response.status, data, headers: response.headers };
}

/** A readable message from an API error body. */
export function errorText(result) {
  const data = result.data || {};
  if (typeof data.detail === "string") return data.detail;
  if (data.error && typeof data.error.message === "string") return data.error.message;
  if (typeof data.message === "string") return data.message;
  const parts = Object.entries(data).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(" ") : JSON.stringify(v)}`);
  return parts.join("; ") || `HTTP ${result.status}`;
}

/** Create an element: el("td", {class: "x", dataset: {id: 1}}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A short message in the page's toast area (role=status, read by screen readers). */
export function toast(message, kind = "info") {
  let area = document.getElementById("toasts");
  if (!area) {
    area = el("div", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(area);
  }
  const item = el("div", { class: `toast toast-${kind}` }, message);
  area.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

/** Whether a key event comes from a text field (page shortcuts then stay quiet). */
export function typingInField(event) {
  const t = event.target;
  return t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
}

export const STATE_COLOURS = { draft: "#6b7280", submitted: "#2563eb", approved: "#16a34a", rejected: "#dc2626" };

export function percent(x) {
  return `${Math.round((x || 0) * 100)}%`;
}

/** ``x`` with three significant digits, without exponents or trailing zeros ("1.5", "23.4", "1,234"). */
function threeDigits(x) {
  return x >= 100 ? Math.round(x).toLocaleString("en") : String(Number(x.toPrecision(3)));
}

/**
 * An area given in square metres, in the unit that reads best: m² below one hectare,
 * ha (10,000 m²) below one square kilometre, km² above ("532 m²", "1.23 ha", "45.6 km²").
 * Every page that shows an area uses this one formatter.
 */
export function formatArea(m2) {
  const value = Number(m2);
  if (m2 === null || m2 === undefined || !Number.isFinite(value)) return "";
  if (value < 10_000) return `${value < 10 ? String(Number(value.toFixed(1))) : Math.round(value).toLocaleString("en")} m²`;
  if (value < 1_000_000) return `${threeDigits(value / 10_000)} ha`;
  return `${threeDigits(value / 1_000_000)} km²`;
}
