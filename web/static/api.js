// The public HTTP API, as any client calls it: JSON in and out, RFC 9457 problems on failure.

const KEY_ITEM = "generation.functionKey";
const USER_ITEM = "generation.user";
const API = "/api/generations";

export const settings = {
  get key() { return localStorage.getItem(KEY_ITEM) || ""; },
  set key(value) { store(KEY_ITEM, value); },
  get user() { return localStorage.getItem(USER_ITEM) || ""; },
  set user(value) { store(USER_ITEM, value); },
};

function store(item, value) {
  const trimmed = (value || "").trim();
  if (trimmed) localStorage.setItem(item, trimmed);
  else localStorage.removeItem(item);
}

/** Who App Service Authentication signed in (`/.auth/me`), or null where it is not in front of the app. */
export async function signedInAs() {
  try {
    const response = await fetch("/.auth/me", { cache: "no-store", headers: { Accept: "application/json" } });
    if (!response.ok) return null;
    const identities = await response.json();
    const first = Array.isArray(identities) ? identities[0] : null;
    return first && first.user_id ? String(first.user_id) : null;
  } catch {
    return null;
  }
}

/** An answer that was not a success, with the problem's `detail` and its per-field `errors`. */
export class ApiError extends Error {
  constructor(status, detail, errors = []) {
    super(detail);
    this.status = status;
    this.errors = errors;
  }

  /** Whether trying again later may work (no answer at all, or a fault of the server). */
  get transient() { return this.status === 0 || this.status >= 500; }

  /** The detail followed by each named field, as one line a person can act on. */
  get text() {
    const fields = this.errors.map((e) => `${e.field}: ${e.message}`);
    return fields.length ? `${this.message} (${fields.join("; ")})` : this.message;
  }
}

async function problemOf(response) {
  if (response.status === 401) {
    // The Functions host answers a missing or wrong key with an empty 401.
    return new ApiError(401, settings.key
      ? "The function key was refused: check it under Settings."
      : "This service needs a function key: paste it under Settings.");
  }
  let detail = `The service answered ${response.status} ${response.statusText}.`.replace(" .", ".");
  let errors = [];
  try {
    const problem = await response.json();
    if (problem && typeof problem.detail === "string" && problem.detail) detail = problem.detail;
    if (problem && Array.isArray(problem.errors)) errors = problem.errors;
  } catch {
    // Not a problem document (a proxy's page, say): the status line is all there is.
  }
  return new ApiError(response.status, detail, errors);
}

async function call(method, url, { body, signal } = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  if (settings.key) headers["x-functions-key"] = settings.key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method, headers, signal, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "The service could not be reached; check the connection and try again.");
  }
  if (!response.ok) throw await problemOf(response);
  const data = response.status === 204 ? null : await response.json();
  return { response, data };
}

/** A link a browser can open by itself (an <img> or a new tab cannot send headers: the key rides as `code`). */
export function openable(url) {
  if (!settings.key) return url;
  const withKey = new URL(url, location.href);
  withKey.searchParams.set("code", settings.key);
  return withKey.toString();
}

export function statusUrl(id) {
  return `${API}/${encodeURIComponent(id)}`;
}

/** Seconds the answer's Retry-After asks for (1 when absent or unreadable). */
export function retryAfter(response) {
  const seconds = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : 1;
}

export const api = {
  async submit(request) {
    const { response, data } = await call("POST", API, { body: request });
    return { job: data, statusUrl: response.headers.get("Location") || statusUrl(data.id), response };
  },
  async get(url, { wait = 0, signal } = {}) {
    const target = wait ? `${url}${url.includes("?") ? "&" : "?"}wait=${wait}` : url;
    const { response, data } = await call("GET", target, { signal });
    return { job: data, response };
  },
  async list({ user, cursor, limit }) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (user) query.set("user", user);
    if (cursor) query.set("cursor", cursor);
    return (await call("GET", `${API}?${query}`)).data;
  },
  async cancel(id) {
    return (await call("POST", `${statusUrl(id)}/cancel`)).data;
  },
  async remove(id) {
    await call("DELETE", statusUrl(id));
  },
};
