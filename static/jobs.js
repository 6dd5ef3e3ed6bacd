/**
 * What the painter is doing, as every viewer sees it: the job bar (queued, loading its
 * model, window i of n, step, progress, cancel), the live preview of the window being painted, and the
 * candidates waiting for a pick (previous, next, accept, discard).
 *
 *   const jobs = new Jobs(conn, document);
 *   jobs.onchange = () => requestDraw();
 *   jobs.drawOverlay(ctx, view);     // the preview or the candidate shown, over the tiles
 */

import { Rect } from "./geometry.js";

function rgbaCanvas(w, h, bytes, channels) {
  const canvas = document.createElement("canvas");
  canvas.width = w; canvas.height = h;
  const data = new ImageData(w, h);
  if (channels === 4) data.data.set(bytes.subarray(0, w * h * 4));
  else for (let i = 0, j = 0; i < w * h; i++, j += 3) {
    data.data[i * 4] = bytes[j]; data.data[i * 4 + 1] = bytes[j + 1]; data.data[i * 4 + 2] = bytes[j + 2]; data.data[i * 4 + 3] = 255;
  }
  canvas.getContext("2d").putImageData(data, 0, 0);
  return canvas;
}

export class Jobs {
  constructor(conn, doc, toast) {
    this.conn = conn;
    this.toast = toast;
    this.jobs = new Map();       // job id -> {kind, state, windows, window, step, steps, position}
    this.current = null;         // the job shown in the bar
    this.preview = null;         // {job, rect (level 0), image}
    this.candidates = null;      // {job, window, rect (level 0), count, images, index}
    this.onchange = () => {};
    // A model's size by its library name ("2.13 GB"), or null: models.js knows the list.
    this.sizeOf = () => null;
    this.ticking = 0;            // the interval that counts a model load's seconds
    this.$ = (id) => doc.getElementById(id);
    this.bind();
    this.listen();
  }

  bind() {
    this.$("cancel").onclick = () => this.cancel();
    this.$("cand-prev").onclick = () => this.step(-1);
    this.$("cand-next").onclick = () => this.step(1);
    this.$("cand-accept").onclick = () => this.accept();
    this.$("cand-discard").onclick = () => this.discard();
  }

  /** Jobs already queued or running when we (re)connect. */
  restore(list) {
    this.jobs.clear();
    for (const job of list) this.jobs.set(job.job, { kind: job.kind, state: job.state, windows: 0, window: 0, step: 0, steps: 0 });
    if (!this.jobs.has(this.current)) this.current = list.length ? list[list.length - 1].job : null;
    if (this.candidates && !this.jobs.has(this.candidates.job)) this.candidates = null;
    this.render();
  }

  listen() {
    const c = this.conn;
    c.on("job.queued", (m) => {
      this.jobs.set(m.job, { kind: m.kind, state: "queued", position: m.position, windows: 0, window: 0, step: 0, steps: 0 });
      if (!this.current || !this.jobs.has(this.current)) this.current = m.job;
      this.render();
    });
    c.on("job.started", (m) => {
      const job = this.ensure(m.job);
      Object.assign(job, { state: "running", windows: m.windows.length, level: m.level, window: 0, committed: 0,
        stage: m.stage || 0, stages: m.stages || 1 });
      this.current = m.job;
      this.render();
    });
    c.on("job.progress", (m) => {
      const job = this.ensure(m.job);
      Object.assign(job, { state: "running", window: m.window, windows: m.windows, step: m.step, steps: m.steps, rect: m.rect, level: job.level || 0 });
      this.current = m.job;
      this.render();
    });
    c.on("job.loading", (m) => {
      // The job waits for its model to load (a first use), until `loaded`. The loaders
      // (diffusers') say nothing until they are done, so the bar counts the seconds, beside
      // the size that is being read.
      const job = this.ensure(m.job);
      if (!m.loaded && job.loading !== String(m.model)) job.loadingSince = performance.now();
      job.loading = m.loaded ? null : String(m.model);
      if (!this.current || !this.jobs.has(this.current)) this.current = m.job;
      this.render();
    });
    c.on("preview", (m) => {
      const job = this.jobs.get(m.job);
      if (!job || !job.rect) return;
      const rect = Rect.of(job.rect).toLevel(job.level || 0, 0);
      this.preview = { job: m.job, window: m.window, rect, image: rgbaCanvas(m.w, m.h, m.payload, 3) };
      this.onchange();
    });
    c.on("window.committed", (m) => {
      // Windows may commit out of plan order (several paint at once): count them.
      const job = this.jobs.get(m.job);
      if (job) job.committed = (job.committed || 0) + 1;
      if (this.preview && this.preview.job === m.job && this.preview.window === m.window) this.preview = null;
      if (this.candidates && this.candidates.job === m.job) this.candidates = null;
      this.render();
    });
    c.on("candidates", (m) => {
      const rect = Rect.of(m.rect).toLevel(m.level, 0);
      this.candidates = { job: m.job, window: m.window, rect, count: m.count, images: new Array(m.count).fill(null), index: 0 };
      this.preview = null;
      const job = this.ensure(m.job);
      job.state = "choosing";
      this.render();
    });
    c.on("candidate", (m) => {
      const cand = this.candidates;
      if (!cand || cand.job !== m.job || cand.window !== m.window) return;
      cand.images[m.index] = rgbaCanvas(m.w, m.h, m.payload, 4);
      this.render();
    });
    const finish = (m) => {
      this.jobs.delete(m.job);
      if (this.preview && this.preview.job === m.job) this.preview = null;
      if (this.candidates && this.candidates.job === m.job) this.candidates = null;
      if (this.current === m.job) this.current = this.jobs.size ? [...this.jobs.keys()].pop() : null;
      this.render();
    };
    c.on("job.done", (m) => { finish(m); if (m.status === "cancelled") this.toast("The job was cancelled; windows already painted stay."); });
    c.on("job.failed", (m) => { finish(m); this.toast(`The job failed: ${m.reason}`, true); });
  }

  ensure(id) {
    if (!this.jobs.has(id)) this.jobs.set(id, { kind: "job", state: "queued", windows: 0, window: 0, step: 0, steps: 0 });
    return this.jobs.get(id);
  }

  /** A job this client just submitted (its events may already have arrived). */
  submitted(id) { this.ensure(id); if (!this.current) this.current = id; this.render(); }

  get busy() { return this.jobs.size > 0; }

  async cancel() {
    if (!this.current) return;
    try { await this.conn.request({ type: "cancel", job: this.current }); } catch (err) { this.toast(err.message, true); }
  }

  step(delta) {
    const cand = this.candidates;
    if (!cand) return;
    cand.index = (cand.index + delta + cand.count) % cand.count;
    this.render();
  }

  async accept() {
    const cand = this.candidates;
    if (!cand) return;
    try { await this.conn.request({ type: "accept", job: cand.job, candidate: cand.index }); } catch (err) { this.toast(err.message, true); }
  }

  async discard() {
    const cand = this.candidates;
    if (!cand) return;
    try { await this.conn.request({ type: "discard", job: cand.job }); } catch (err) { this.toast(err.message, true); }
  }

  render() {
    const job = this.current ? this.jobs.get(this.current) : null;
    this.$("job-bar").hidden = !job;
    if (job) {
      let text, detail = "", fraction = 0;
      if (job.loading) {
        text = `Loading model ${job.loading}…`;
        const seconds = Math.floor((performance.now() - job.loadingSince) / 1000);
        detail = [this.sizeOf(job.loading), `${seconds} s`].filter(Boolean).join(" · ");
      } else if (job.state === "queued") {
        text = `${job.kind} queued`;
        detail = job.position ? `${job.position} ahead` : "starting…";
      } else if (job.state === "choosing") {
        text = "Choose a candidate";
        detail = `window ${job.window + 1} of ${job.windows || 1}`;
        fraction = (job.window + 1) / (job.windows || 1);
      } else {
        text = `Painting ${job.kind}`;
        const windows = job.windows || 1, stages = job.stages || 1, stage = job.stage || 0;
        const done = Math.min(job.committed || 0, windows - 1);
        detail = (stages > 1 ? `stage ${stage + 1} of ${stages} · ` : "") + `window ${done + 1} of ${windows}` +
          (job.steps ? ` · step ${job.step}/${job.steps}` : "");
        fraction = (stage + (done + (job.steps ? job.step / job.steps : 0)) / windows) / stages;
      }
      if (this.jobs.size > 1) detail += ` · ${this.jobs.size - 1} more queued`;
      this.$("job-text").textContent = text;
      this.$("job-detail").textContent = detail;
      this.$("progress-fill").style.width = `${Math.round(fraction * 100)}%`;
      this.$("job-bar").querySelector(".progress").setAttribute("aria-valuenow", String(Math.round(fraction * 100)));
    }
    this.tick(Boolean(job && job.loading));
    const cand = this.candidates;
    this.$("candidates-bar").hidden = !cand;
    if (cand) this.$("cand-count").textContent = `${cand.index + 1} / ${cand.count}`;
    this.onchange();
  }

  /** A render a second while the job shown waits for its model (its seconds count). */
  tick(loading) {
    if (loading && !this.ticking) this.ticking = setInterval(() => this.render(), 1000);
    if (!loading && this.ticking) { clearInterval(this.ticking); this.ticking = 0; }
  }

  /** Draw the candidate being looked at, or the live preview, where its window is. */
  drawOverlay(ctx, view) {
    const shown = this.candidates
      ? { rect: this.candidates.rect, image: this.candidates.images[this.candidates.index] }
      : this.preview;
    if (!shown || !shown.image) return;
    const [x0, y0] = view.toScreen(shown.rect.x, shown.rect.y);
    const [x1, y1] = view.toScreen(shown.rect.x1, shown.rect.y1);
    ctx.save();
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(shown.image, Math.round(x0), Math.round(y0), Math.round(x1 - x0), Math.round(y1 - y0));
    ctx.strokeStyle = this.candidates ? "#f5d76e" : "rgba(122, 162, 247, 0.9)";
    ctx.setLineDash([6, 4]);
    ctx.lineWidth = 1.5;
    ctx.strokeRect(Math.round(x0) + 0.5, Math.round(y0) + 0.5, Math.round(x1 - x0), Math.round(y1 - y0));
    ctx.restore();
  }
}
