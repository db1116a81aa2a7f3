// One job on the page: its card, kept in step with the status URL until the job is terminal.

import { ApiError, api, openable, retryAfter, statusUrl } from "./api.js";

const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
const STATUS_LABELS = {
  queued: "Queued", running: "Running", succeeded: "Done", failed: "Failed", canceled: "Canceled",
};
const LONG_WAIT_SECONDS = 25;
const RETRY_SECONDS = 5;
// A browser opens about six connections to one host: long waits must leave room for everything else.
const MAX_LONG_WAITS = 2;
let longWaits = 0;

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function sleep(seconds, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, seconds * 1000);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("stopped", "AbortError"));
    }, { once: true });
  });
}

function describe(job) {
  const when = new Date(job.created_at).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  const what = job.kind === "text" ? "Text answer" : `${job.n} × ${job.size.replace("x", "×")}`;
  return `${what} · ${when}`;
}

function imageOutput(output, job) {
  const [width, height] = job.size.split("x").map(Number);
  const label = `Picture ${output.index + 1} of ${job.n}`;
  const image = el("img", {
    src: openable(output.preview_url), alt: `${label}: ${job.prompt}`, loading: "lazy",
    width: output.width || width, height: output.height || height,
  });
  const link = el("a", {
    href: openable(output.url), target: "_blank", rel: "noopener noreferrer", class: "picture",
  }, image, el("span", { class: "open" }, "Open full size"));
  link.setAttribute("aria-label", `${label}, open full size in a new tab`);
  return el("figure", { class: "output", "data-index": output.index }, link);
}

function renderOutput(output, job) {
  if (output.error) {
    return el("p", { class: "output output-error", "data-index": output.index },
      `Output ${output.index + 1} failed: ${output.error.message}`);
  }
  if (typeof output.text === "string") {
    return el("div", { class: "output answer", "data-index": output.index }, output.text);
  }
  return imageOutput(output, job);
}

export class JobCard {
  constructor(job, { statusUrl: url, onRemoved }) {
    this.job = job;
    this.url = url || statusUrl(job.id);
    this.onRemoved = onRemoved;
    this.stop = new AbortController();
    this.node = this.build();
    this.update(job);
  }

  build() {
    const titleId = `job-${this.job.id}`;
    this.badge = el("span", { class: "badge" });
    this.progress = el("progress", { max: 1, value: 0, "aria-label": "Progress" });
    this.progressText = el("span", { class: "progress-text" });
    this.failure = el("p", { class: "error", role: "alert", hidden: true });
    this.outputs = el("div", { class: "outputs" });
    this.cancelButton = el("button", { type: "button", class: "quiet" }, "Cancel");
    this.deleteButton = el("button", { type: "button", class: "quiet danger" }, "Delete");
    this.cancelButton.addEventListener("click", () => this.cancel());
    this.deleteButton.addEventListener("click", () => this.remove());
    const article = el("article", { class: "job card", "aria-labelledby": titleId },
      el("div", { class: "job-head" },
        el("h3", { id: titleId, class: "prompt" }, this.job.prompt), this.badge),
      el("p", { class: "meta" }, describe(this.job)),
      el("div", { class: "progress-row" }, this.progress, this.progressText),
      this.failure, this.outputs,
      el("div", { class: "actions" }, this.cancelButton, this.deleteButton));
    return el("li", { "data-job-id": this.job.id, "data-status": this.job.status }, article);
  }

  update(job) {
    this.job = job;
    this.node.dataset.status = job.status;
    this.badge.className = `badge ${job.status}`;
    this.badge.textContent = STATUS_LABELS[job.status] || job.status;
    const { completed, total } = job.progress;
    this.progress.max = Math.max(total, 1);
    this.progress.value = completed;
    this.progressText.textContent = `${completed} of ${total} done`;
    this.progress.parentElement.hidden = TERMINAL.has(job.status);
    this.cancelButton.hidden = TERMINAL.has(job.status);
    this.showFailure(job.error ? job.error.message : "");
    // Cancelling is something the person did, not something that went wrong.
    this.failure.classList.toggle("neutral", job.status === "canceled");
    this.outputs.querySelectorAll(".pending").forEach((node) => node.remove());
    const shown = new Set([...this.outputs.children].map((node) => node.dataset.index));
    for (const output of job.outputs) {
      // A failed job's own error already says why; per-output errors matter when others succeeded.
      if (output.error && job.status === "failed") continue;
      if (!shown.has(String(output.index))) this.outputs.append(renderOutput(output, job));
    }
    if (job.kind === "image" && !TERMINAL.has(job.status)) this.showPending(total - job.outputs.length);
  }

  /** Grey tiles of the pictures still to come, in their shape. */
  showPending(count) {
    const [width, height] = this.job.size.split("x").map(Number);
    for (let index = 0; index < count; index += 1) {
      const tile = el("div", { class: "output pending", "aria-hidden": "true" });
      tile.style.aspectRatio = `${width} / ${height}`;
      this.outputs.append(tile);
    }
  }

  showFailure(text) {
    this.failure.textContent = text;
    this.failure.hidden = !text;
  }

  /** Follow the status URL until the job is terminal. A running single-output job is held in one long
   * `?wait=` (a few at a time); otherwise each read is spaced by `Retry-After`, so the move from queued
   * to running and each finished output show as they happen. */
  async follow() {
    const signal = this.stop.signal;
    while (!TERMINAL.has(this.job.status) && !signal.aborted) {
      const long = this.job.status === "running" && this.job.progress.total === 1
        && longWaits < MAX_LONG_WAITS;
      if (long) longWaits += 1;
      try {
        const { job, response } = await api.get(this.url, { wait: long ? LONG_WAIT_SECONDS : 0, signal });
        this.update(job);
        if (!long && !TERMINAL.has(job.status)) await sleep(retryAfter(response), signal);
      } catch (error) {
        if (error.name === "AbortError") return;
        this.showFailure(`Lost track of this job: ${error.text || error.message}`);
        if (!(error instanceof ApiError) || !error.transient) return;
        await sleep(RETRY_SECONDS, signal).catch(() => {});
      } finally {
        if (long) longWaits -= 1;
      }
    }
  }

  async cancel() {
    this.cancelButton.disabled = true;
    try {
      this.update(await api.cancel(this.job.id));
    } catch (error) {
      this.showFailure(error.text || error.message);
    } finally {
      this.cancelButton.disabled = false;
    }
  }

  async remove() {
    // Two presses: the first only asks, so one slip of a finger deletes nothing.
    if (!this.deleteButton.dataset.armed) {
      this.deleteButton.dataset.armed = "yes";
      this.deleteButton.textContent = "Press again to delete";
      setTimeout(() => this.disarm(), 4000);
      return;
    }
    this.deleteButton.disabled = true;
    try {
      await api.remove(this.job.id);
      this.stop.abort();
      this.onRemoved(this);
    } catch (error) {
      this.showFailure(error.text || error.message);
      this.deleteButton.disabled = false;
      this.disarm();
    }
  }

  disarm() {
    delete this.deleteButton.dataset.armed;
    this.deleteButton.textContent = "Delete";
  }
}
