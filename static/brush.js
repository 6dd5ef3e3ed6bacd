/**
 * The inpainting mask: a brush and an eraser painting inside the frame, one mask pixel
 * per level-0 pixel. The mask follows the frame (what lies outside a moved or resized
 * frame is dropped) and is sent as w*h bytes, nonzero = repaint.
 *
 *   const brush = new Brush(frame, view);
 *   brush.mode = "brush";   // "brush" | "eraser" | null (off: the frame moves)
 *   brush.size = 48;
 *   const bytes = brush.bytes();   // Uint8Array(frame.rect.w * frame.rect.h), or null if empty
 */

import { Rect } from "./geometry.js";

export class Brush {
  constructor(frame, view) {
    this.frame = frame;
    this.view = view;
    this.size = 48;
    this._mode = null;
    this.rect = new Rect();
    this.canvas = document.createElement("canvas");
    this.canvas.className = "mask";
    frame.element.insertBefore(this.canvas, frame.element.firstChild);
    this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    this.cursor = document.createElement("div");
    this.cursor.className = "brush-cursor";
    this.cursor.hidden = true;
    frame.element.parentElement.appendChild(this.cursor);
    this.onchange = () => {};
    this.follow(frame.rect);
    this.listen();
  }

  get mode() { return this._mode; }
  set mode(mode) {
    this._mode = mode;
    this.frame.movable = !mode;
    this.frame.element.classList.toggle("painting", Boolean(mode));
    this.cursor.hidden = !mode;
  }

  /** Keep the mask aligned with the frame's new rectangle, keeping what still fits. */
  follow(rect) {
    if (rect.equals(this.rect)) return;
    const old = this.rect.empty ? null : this.ctx.getImageData(0, 0, this.rect.w, this.rect.h);
    const [ox, oy] = [this.rect.x - rect.x, this.rect.y - rect.y];
    this.canvas.width = rect.w;
    this.canvas.height = rect.h;
    if (old) this.ctx.putImageData(old, ox, oy);
    this.rect = rect;
  }

  clear() { this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height); this.onchange(); }

  /** The mask as one byte a pixel (255 = repaint), or null when nothing is painted. */
  bytes() {
    const { width: w, height: h } = this.canvas;
    const data = this.ctx.getImageData(0, 0, w, h).data;
    const out = new Uint8Array(w * h);
    let any = false;
    for (let i = 0; i < out.length; i++) if (data[i * 4 + 3] > 0) { out[i] = 255; any = true; }
    return any ? out : null;
  }

  stroke(from, to) {
    const ctx = this.ctx;
    ctx.globalCompositeOperation = this.mode === "eraser" ? "destination-out" : "source-over";
    ctx.strokeStyle = "rgb(255, 72, 96)";
    ctx.fillStyle = "rgb(255, 72, 96)";
    ctx.lineWidth = this.size;
    ctx.lineCap = "round";
    ctx.beginPath();
    const [x0, y0, x1, y1] = [from[0] - this.rect.x, from[1] - this.rect.y, to[0] - this.rect.x, to[1] - this.rect.y];
    if (x0 === x1 && y0 === y1) {
      // A tap: canvas draws nothing for a line of length 0, so a round dab.
      ctx.arc(x1, y1, this.size / 2, 0, 2 * Math.PI);
      ctx.fill();
    } else {
      ctx.moveTo(x0, y0);
      ctx.lineTo(x1, y1);
      ctx.stroke();
    }
    this.onchange();
  }

  moveCursor(event) {
    const stage = this.frame.element.parentElement.getBoundingClientRect();
    const d = this.size * this.view.scale;
    Object.assign(this.cursor.style, {
      width: `${d}px`, height: `${d}px`,
      left: `${event.clientX - stage.left - d / 2}px`, top: `${event.clientY - stage.top - d / 2}px`,
    });
  }

  listen() {
    const el = this.frame.element;
    let last = null;
    let before = null;  // the mask before a finger's stroke: a pinch takes the stroke back
    el.addEventListener("pointerdown", (event) => {
      if (!this.mode || event.button !== 0 || event.target.dataset.handle) return;
      event.stopPropagation();
      el.setPointerCapture(event.pointerId);
      before = event.pointerType === "touch" ? this.ctx.getImageData(0, 0, this.rect.w, this.rect.h) : null;
      last = this.view.fromEvent(event);
      this.stroke(last, last);
    });
    el.addEventListener("pointermove", (event) => {
      if (this.mode) this.moveCursor(event);
      if (!last) return;
      const point = this.view.fromEvent(event);
      this.stroke(last, point);
      last = point;
    });
    const end = (event) => {
      if (event.type === "pointercancel" && before) { this.ctx.putImageData(before, 0, 0); this.onchange(); }
      last = null;
      before = null;
    };
    el.addEventListener("pointerup", end);
    el.addEventListener("pointercancel", end);
  }
}
