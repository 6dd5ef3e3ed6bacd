/**
 * The select tool: clicks and a box on the frame ask the server's Segment Anything model
 * for the segment under them (the `segment` command; the server keeps the frame's image
 * embedding, so further clicks are quick), shown as an overlay. The segment, grown or
 * shrunk by some pixels, is then added to or taken out of the brush's inpaint mask.
 * Offered only when the server has a segmenter (`welcome.segmenter`).
 *
 *   const select = new Select(frame, view, brush, conn, document.querySelector("#select-controls"), toast);
 *   select.offer(welcome.segmenter);   // shows or hides the tool's button
 *   select.active = true;              // click: a point in; Shift/Alt+click: a point out; drag: a box
 *   select.grow = 8;                   // px, negative shrinks
 *   select.apply("add");               // or "remove": into / out of the brush's mask
 *   select.clear();                    // points, box and segment gone
 */

import { Rect } from "./geometry.js";

const COLOUR = [64, 200, 255];    // the segment: cyan, not the mask's red
const DRAG_PX = 5;                 // screen px a press must move to draw a box instead of a point
const MAX_GROW = 256;              // px either way, as the command line's --grow

export class Select {
  constructor(frame, view, brush, conn, controls, toast = () => {}) {
    this.frame = frame;
    this.view = view;
    this.brush = brush;
    this.conn = conn;
    this.controls = controls;
    this.toast = toast;
    this.available = false;
    this._active = false;
    this.negative = false;   // the "point out" toggle: plain clicks mark what is not part of it
    this._grow = 0;
    this.rect = new Rect();
    this.points = [];        // [x, y] on level 0, inside the frame
    this.labels = [];        // 1 in, 0 out, one per point
    this.box = null;         // [x0, y0, x1, y1] on level 0, or null
    this.segment = null;     // Uint8Array(rect.w * rect.h) from the server, 255 = in, or null
    this.score = null;
    this.busy = false;
    this.asked = 0;          // answers to older asks are dropped
    this.grown = null;       // cache: { segment, by, mask }
    this.canvas = document.createElement("canvas");
    this.canvas.className = "segment";
    this.canvas.hidden = true;
    frame.element.insertBefore(this.canvas, brush.canvas.nextSibling);
    this.ctx = this.canvas.getContext("2d");
    this.follow(frame.rect);
    this.listen();
    this.bind();
  }

  /** The server says whether it segments: the tool's button shows only then. */
  offer(available) {
    this.available = Boolean(available);
    for (const b of document.querySelectorAll("[data-tool='select']")) b.hidden = !this.available;
    if (!this.available) this.clear();
  }

  get active() { return this._active; }
  set active(on) {
    this._active = Boolean(on);
    this.frame.element.classList.toggle("selecting", this._active);
    this.controls.hidden = !this._active;
  }

  get grow() { return this._grow; }
  set grow(px) { this._grow = px; this.draw(); this.show(); }

  /** A new frame rectangle: points and segment belonged to the old one. */
  follow(rect) {
    if (rect.equals(this.rect)) return;
    this.rect = rect;
    this.canvas.width = rect.w;
    this.canvas.height = rect.h;
    this.clear();
  }

  clear() {
    this.asked++;
    this.points = [];
    this.labels = [];
    this.box = null;
    this.segment = null;
    this.score = null;
    this.busy = false;
    this.draw();
    this.show();
  }

  /** Add a point (label 1 in, 0 out) or set the box, then ask for the segment. */
  point(x, y, label) {
    const r = this.rect;
    this.points.push([Math.min(r.x1 - 1, Math.max(r.x, Math.floor(x))), Math.min(r.y1 - 1, Math.max(r.y, Math.floor(y)))]);
    this.labels.push(label);
    return this.ask();
  }

  boxFrom(a, b) {
    const r = this.rect, clampX = (v) => Math.min(r.x1, Math.max(r.x, Math.round(v))), clampY = (v) => Math.min(r.y1, Math.max(r.y, Math.round(v)));
    const [x0, x1] = [clampX(Math.min(a[0], b[0])), clampX(Math.max(a[0], b[0]))];
    const [y0, y1] = [clampY(Math.min(a[1], b[1])), clampY(Math.max(a[1], b[1]))];
    return x1 > x0 && y1 > y0 ? [x0, y0, x1, y1] : null;
  }

  async ask() {
    const asked = ++this.asked;
    if (!this.box && !this.labels.includes(1)) {  // only points out: nothing to select yet
      this.segment = null;
      this.draw();
      this.show();
      return;
    }
    this.busy = true;
    this.draw();
    this.show();
    const message = { type: "segment", level: 0, ...this.rect.box(), points: this.points, labels: this.labels };
    if (this.box) message.box = this.box;
    try {
      const ok = await this.conn.request(message);
      if (asked !== this.asked) return;
      this.segment = new Uint8Array(ok.payload);
      this.score = ok.score;
    } catch (err) {
      if (asked !== this.asked) return;
      this.toast(`Select: ${err.message}`, true);
    }
    this.busy = false;
    this.draw();
    this.show();
  }

  /** The segment grown (or shrunk) by `grow` px, 255 = in; null without a segment. */
  mask() {
    if (!this.segment) return null;
    const g = this.grown;
    if (g && g.segment === this.segment && g.by === this._grow) return g.mask;
    const mask = growMask(this.segment, this.rect.w, this.rect.h, this._grow);
    this.grown = { segment: this.segment, by: this._grow, mask };
    return mask;
  }

  /** Put the (grown) segment into the brush's mask ("add") or take it out ("remove"). */
  apply(how) {
    const mask = this.mask();
    if (!mask) { this.toast("Click on something with the select tool first."); return false; }
    const brush = this.brush, { w, h } = this.rect;
    if (!brush.rect.equals(this.rect)) return false;  // cannot happen: both follow the frame
    const stamp = document.createElement("canvas");
    stamp.width = w;
    stamp.height = h;
    const image = new ImageData(w, h);
    for (let i = 0; i < mask.length; i++) {
      if (mask[i]) { image.data[i * 4] = 255; image.data[i * 4 + 1] = 72; image.data[i * 4 + 2] = 96; image.data[i * 4 + 3] = 255; }
    }
    stamp.getContext("2d").putImageData(image, 0, 0);
    brush.ctx.save();
    brush.ctx.globalCompositeOperation = how === "remove" ? "destination-out" : "source-over";
    brush.ctx.drawImage(stamp, 0, 0);
    brush.ctx.restore();
    brush.onchange();
    return true;
  }

  draw() {
    const { ctx, rect } = this;
    ctx.clearRect(0, 0, rect.w, rect.h);
    const mask = this.mask();
    this.canvas.hidden = !mask && !this.points.length && !this.box;
    if (mask) {
      const image = new ImageData(rect.w, rect.h);
      for (let i = 0; i < mask.length; i++) {
        if (mask[i]) { image.data.set(COLOUR, i * 4); image.data[i * 4 + 3] = 160; }
      }
      ctx.putImageData(image, 0, 0);
    }
    const unit = 1 / Math.max(this.view.scale, 1e-6);  // one screen px, in level-0 px
    if (this.box) this.outline(this.box, unit, "rgb(64, 200, 255)");
    this.points.forEach(([x, y], i) => {
      ctx.beginPath();
      ctx.arc(x - rect.x + 0.5, y - rect.y + 0.5, 5 * unit, 0, 2 * Math.PI);
      ctx.fillStyle = this.labels[i] ? "rgb(95, 208, 138)" : "rgb(239, 111, 108)";
      ctx.fill();
      ctx.lineWidth = 1.5 * unit;
      ctx.strokeStyle = "#000";
      ctx.stroke();
    });
  }

  outline(box, unit, colour) {
    const [x0, y0, x1, y1] = box;
    this.ctx.lineWidth = 2 * unit;
    this.ctx.strokeStyle = colour;
    this.ctx.strokeRect(x0 - this.rect.x, y0 - this.rect.y, x1 - x0, y1 - y0);
  }

  /** The controls' state and the status line. */
  show() {
    const status = this.controls.querySelector("[data-select='status']");
    const mask = this.busy ? null : this.mask();
    let text = "Click on a thing to select it; Shift+click what is not part of it; drag a box around it.";
    if (this.busy) text = "Segmenting…";
    else if (mask) text = `Segment: ${count(mask).toLocaleString("en")} px (score ${this.score.toFixed(2)})`;
    else if (this.points.length) text = "Add a point on the thing (a plain click) or a box.";
    if (status.textContent !== text) status.textContent = text;
    for (const b of this.controls.querySelectorAll("[data-select='add'], [data-select='remove']")) b.disabled = !mask;
  }

  bind() {
    const c = this.controls;
    c.querySelector("[data-select='add']").onclick = () => this.apply("add");
    c.querySelector("[data-select='remove']").onclick = () => this.apply("remove");
    c.querySelector("[data-select='clear']").onclick = () => this.clear();
    const negative = c.querySelector("[data-select='negative']");
    negative.onchange = () => { this.negative = negative.checked; };
    const grow = c.querySelector("[data-select='grow']");
    const read = () => {
      const px = parseInt(grow.value, 10);
      this.grow = Number.isFinite(px) ? Math.max(-MAX_GROW, Math.min(MAX_GROW, px)) : 0;
    };
    grow.addEventListener("input", read);
    read();
  }

  listen() {
    const el = this.frame.element;
    let press = null;
    el.addEventListener("pointerdown", (event) => {
      if (!this._active || event.button !== 0 || event.target.dataset.handle) return;
      event.stopPropagation();
      el.setPointerCapture(event.pointerId);
      press = { at: this.view.fromEvent(event), x: event.clientX, y: event.clientY, dragging: false };
    });
    el.addEventListener("pointermove", (event) => {
      if (!press) return;
      press.dragging ||= Math.hypot(event.clientX - press.x, event.clientY - press.y) >= DRAG_PX;
      if (!press.dragging) return;
      this.draw();
      const box = this.boxFrom(press.at, this.view.fromEvent(event));
      if (box) this.outline(box, 1 / this.view.scale, "rgba(255, 255, 255, 0.9)");
      this.canvas.hidden = false;
    });
    el.addEventListener("pointerup", (event) => {
      if (!press) return;
      const done = press;
      press = null;
      if (done.dragging) {
        const box = this.boxFrom(done.at, this.view.fromEvent(event));
        if (box) { this.box = box; this.ask(); } else this.draw();
        return;
      }
      const out = event.shiftKey || event.altKey || this.negative;
      this.point(done.at[0], done.at[1], out ? 0 : 1);
    });
    el.addEventListener("pointercancel", () => { press = null; this.draw(); });
  }
}

/**
 * `mask` (w*h bytes, nonzero = in) grown by `by` px, or shrunk when negative, as 255/0
 * bytes: city-block distance in two raster passes (exact for it), the same grow as the
 * command line's --grow (canvas/segment/shape.py).
 */
export function growMask(mask, w, h, by) {
  const out = new Uint8Array(w * h);
  if (by === 0) { for (let i = 0; i < out.length; i++) out[i] = mask[i] ? 255 : 0; return out; }
  const source = by > 0 ? (i) => mask[i] !== 0 : (i) => mask[i] === 0;  // distance to the segment, or to outside it
  const far = w + h + 1;
  const d = new Int32Array(w * h);
  for (let i = 0; i < d.length; i++) d[i] = source(i) ? 0 : far;
  for (let y = 0; y < h; y++) {
    for (let x = 0, i = y * w; x < w; x++, i++) {
      if (x > 0 && d[i - 1] + 1 < d[i]) d[i] = d[i - 1] + 1;
      if (y > 0 && d[i - w] + 1 < d[i]) d[i] = d[i - w] + 1;
    }
  }
  for (let y = h - 1; y >= 0; y--) {
    for (let x = w - 1, i = y * w + x; x >= 0; x--, i--) {
      if (x < w - 1 && d[i + 1] + 1 < d[i]) d[i] = d[i + 1] + 1;
      if (y < h - 1 && d[i + w] + 1 < d[i]) d[i] = d[i + w] + 1;
    }
  }
  const reach = Math.abs(by);
  for (let i = 0; i < out.length; i++) out[i] = (by > 0 ? d[i] <= reach : d[i] > reach) ? 255 : 0;
  return out;
}

function count(mask) {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) n++;
  return n;
}
