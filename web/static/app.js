// The page: the submit form, the list of the person's jobs (paged with next_cursor) and the settings.

import { api, settings, signedInAs } from "./api.js";
import { JobCard } from "./jobcard.js";

const PAGE_SIZE = 8;
const $ = (id) => document.getElementById(id);

const list = { cards: new Map(), cursor: null };
// Behind Easy Auth the service knows the caller: jobs are theirs without a `user` from the page.
const identity = { signedIn: false };

function ownUser() {
  return identity.signedIn ? null : settings.user;
}

function showError(node, error) {
  node.textContent = error ? (error.text || error.message) : "";
  node.hidden = !error;
}

function needKey(error) {
  if (error && error.status === 401) {
    $("settings").open = true;
    $("key").focus();
  }
}

function removeCard(card) {
  const next = card.node.nextElementSibling || card.node.previousElementSibling;
  card.node.remove();
  list.cards.delete(card.job.id);
  $("empty").hidden = list.cards.size > 0;
  // Keep the keyboard where the person was: on the next job, or back on the list's heading.
  const target = next ? next.querySelector("button:not([hidden])") : $("refresh");
  if (target) target.focus();
}

function addCard(job, { first = false, statusUrl } = {}) {
  if (list.cards.has(job.id)) return list.cards.get(job.id);
  const card = new JobCard(job, { statusUrl, onRemoved: removeCard });
  list.cards.set(job.id, card);
  if (first) $("jobs").prepend(card.node);
  else $("jobs").append(card.node);
  $("empty").hidden = true;
  card.follow();
  return card;
}

async function loadPage({ fresh }) {
  if (fresh) {
    for (const card of list.cards.values()) card.stop.abort();
    list.cards.clear();
    $("jobs").replaceChildren();
    list.cursor = null;
  }
  const more = $("more");
  more.disabled = true;
  try {
    const page = await api.list({ user: ownUser(), cursor: list.cursor, limit: PAGE_SIZE });
    for (const job of page.items) addCard(job);
    list.cursor = page.next_cursor;
    showError($("list-error"), null);
  } catch (error) {
    showError($("list-error"), error);
    needKey(error);
  } finally {
    more.disabled = false;
    more.hidden = !list.cursor;
    $("empty").hidden = list.cards.size > 0 || !$("list-error").hidden;
  }
}

function readRequest() {
  const form = $("submit-form");
  const request = { prompt: form.prompt.value, kind: form.kind.value };
  if (request.kind === "image") {
    request.n = Number(form.n.value);
    request.size = form.size.value;
  }
  if (ownUser()) request.user = ownUser();
  return request;
}

async function submit(event) {
  event.preventDefault();
  const button = $("submit");
  if (button.disabled) return;
  button.disabled = true;
  button.textContent = "Sending…";
  try {
    const { job, statusUrl } = await api.submit(readRequest());
    showError($("submit-error"), null);
    addCard(job, { first: true, statusUrl });
  } catch (error) {
    showError($("submit-error"), error);
    needKey(error);
    if (error.status !== 401) $("prompt").focus();
  } finally {
    button.disabled = false;
    button.textContent = "Generate";
  }
}

function saveSettings(event) {
  event.preventDefault();
  settings.key = $("key").value;
  settings.user = $("user").value;
  $("settings").open = false;
  $("prompt").focus();
  loadPage({ fresh: true });
}

function forgetKey() {
  settings.key = "";
  $("key").value = "";
  $("key").focus();
}

function followKind() {
  // Text answers are one output at one size: the picture options do not apply.
  $("image-options").disabled = $("kind").value !== "image";
}

async function showWhoIsSignedIn() {
  const name = await signedInAs();
  identity.signedIn = Boolean(name);
  $("who").hidden = !name;
  $("who-name").textContent = name || "";
  $("user-field").hidden = Boolean(name);
}

async function start() {
  $("key").value = settings.key;
  $("user").value = settings.user;
  $("submit-form").addEventListener("submit", submit);
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("submit-form").requestSubmit();
  });
  $("kind").addEventListener("change", followKind);
  $("settings-form").addEventListener("submit", saveSettings);
  $("forget-key").addEventListener("click", forgetKey);
  $("refresh").addEventListener("click", () => loadPage({ fresh: true }));
  $("more").addEventListener("click", () => loadPage({ fresh: false }));
  followKind();
  await showWhoIsSignedIn();
  loadPage({ fresh: true });
}

start();
