// Users page (staff): list accounts, create one (its owner gets a one-time link to choose a
// password), deactivate and reactivate, and make a new set-password link.
import { api, el, errorText, toast } from "./common.js";
import { linkBox, when } from "./dialogs.js";

const root = document.getElementById("users");
const me = Number(root.dataset.me);
const iAmSuperuser = root.dataset.superuser === "true";
const rows = document.getElementById("user-rows");
const linkArea = document.getElementById("user-link");

function showLink(username, link) {
  linkArea.replaceChildren(
    el("p", {}, "One-time link for ", el("strong", {}, username), " to choose a password:"),
    linkBox(link.url, `Copy it to ${username} now: it is not shown again. It works once, until ${when(link.expires_at)}.`,
      `Password link for ${username}`));
  linkArea.scrollIntoView({ block: "nearest" });
}

function statusText(user) {
  const parts = [user.is_active ? "active" : "deactivated"];
  if (user.is_superuser) parts.push("superuser");
  else if (user.is_staff) parts.push("staff");
  if (!user.has_password) parts.push("no password yet");
  return parts.join(" · ");
}

function userRow(user) {
  const mine = user.id === me;
  const protectedAccount = user.is_superuser && !iAmSuperuser;
  const actions = el("td", { class: "actions-cell" });
  if (!protectedAccount) {
    if (user.is_active) {
      actions.append(el("button", {
        class: "link", type: "button", "aria-label": `Password link for ${user.username}`,
        onclick: async () => {
          const r = await api(`/api/v1/users/${user.id}/password-link/`, { method: "POST" });
          if (!r.ok) toast(errorText(r), "error"); else showLink(user.username, r.data);
        },
      }, user.has_password ? "Reset password link" : "Password link"));
    }
    if (!mine) {
      actions.append(" ", el("button", {
        class: user.is_active ? "link danger" : "link", type: "button",
        "aria-label": `${user.is_active ? "Deactivate" : "Reactivate"} ${user.username}`,
        onclick: async () => {
          const r = await api(`/api/v1/users/${user.id}/`, { method: "PATCH", body: { is_active: !user.is_active } });
          if (!r.ok) { toast(errorText(r), "error"); return; }
          toast(`${r.data.username} is ${r.data.is_active ? "active again" : "deactivated: they can no longer log in"}.`);
          loadUsers();
        },
      }, user.is_active ? "Deactivate" : "Reactivate"));
    }
  }
  return el("tr", { dataset: { username: user.username }, class: user.is_active ? "" : "inactive" },
    el("td", {}, user.username, mine ? el("span", { class: "muted" }, " (you)") : null),
    el("td", {}, user.email || ""),
    el("td", { dataset: { testid: "status" } }, statusText(user)),
    el("td", { class: "muted" }, user.last_login ? when(user.last_login) : "never"),
    actions);
}

async function loadUsers() {
  const r = await api("/api/v1/users/?limit=1000");
  if (!r.ok) { rows.replaceChildren(el("tr", {}, el("td", { colspan: 5 }, errorText(r)))); return; }
  rows.replaceChildren(...r.data.results.map(userRow));
}

const form = document.getElementById("user-form");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {
    username: form.elements.username.value.trim(),
    email: form.elements.email.value.trim(),
    is_staff: form.elements.is_staff.checked,
  };
  const r = await api("/api/v1/users/", { method: "POST", body });
  if (!r.ok) { toast(errorText(r), "error"); return; }
  form.reset();
  showLink(r.data.username, r.data.password_link);
  loadUsers();
});

loadUsers();
