/**
 * The camera over the infinite canvas and its DOM handlers: drag to pan, wheel or pinch
 * to zoom around the cursor. `scale` is screen CSS px per level-0 px; the pyramid level
 * to draw follows from it (see geometry.levelFor).
 *
 *   const view = new View(canvasElement);
 *   view.onchange = () => requestDraw();
 *   view.fit(new Rect(0, 0, 1024, 768));
 *   view.save("boundless.default.view");      // on leaving; view.restore(key) on coming back
 *   const [wx, wy] = view.toWorld(event.offsetX, event.offsetY);
 */

import { Rect, clamp, levelFor } from "./geometry.js";

// A zoom-out of 16 steps reaches level 16: the whole canvas must still fit on screen.
export const MIN_SCALE = 1 / 2 ** 20;
export const MAX_SCALE = 16;

export class View {
  constructor(element) {
    this.element = element;
    this.ox = 0;            // level-0 coordinates of the screen's top-left corner
    this.oy = 0;
    this.scale = 1;
    this.width = element.clientWidth || 1;
    this.height = element.clientHeight || 1;
    this.ratio = window.devicePixelRatio || 1;
    this.onchange = () => {};
    this.enabled = true;    // false while another tool (the brush) owns the pointer
    this.pointers = new Map();
    this.listen();
  }

  toScreen(wx, wy) { return [(wx - this.ox) * this.scale, (wy - this.oy) * this.scale]; }
  toWorld(sx, sy) { return [this.ox + sx / this.scale, this.oy + sy / this.scale]; }

  /** The level-0 point under a mouse or pointer event. */
  fromEvent(event) {
    const rect = this.element.getBoundingClientRect();
    return this.toWorld(event.clientX - rect.left, event.clientY - rect.top);
  }

  visibleRect() {
    const x0 = Math.floor(this.ox), y0 = Math.floor(this.oy);
    return Rect.fromEdges(x0, y0, Math.ceil(this.ox + this.width / this.scale), Math.ceil(this.oy + this.height / this.scale));
  }

  level(top = 16) { return levelFor(this.scale, this.ratio, top); }

  resize() {
    this.width = this.element.clientWidth || 1;
    this.height = this.element.clientHeight || 1;
    this.ratio = window.devicePixelRatio || 1;
    this.onchange();
  }

  /** Show `rect` (level 0) whole, centred, with a margin; at most 1:1. */
  fit(rect, margin = 48) {
    if (rect.empty) { this.setCamera(-this.width / 2, -this.height / 2, 1); return; }
    const scale = Math.min(1, (this.width - 2 * margin) / rect.w, (this.height - 2 * margin) / rect.h);
    const s = clamp(scale, MIN_SCALE, MAX_SCALE);
    this.setCamera(rect.x + rect.w / 2 - this.width / 2 / s, rect.y + rect.h / 2 - this.height / 2 / s, s);
  }

  /** Keep the camera in localStorage under `key`: its centre and scale, so it comes back
   *  the same whatever the window's size. */
  save(key) {
    const [cx, cy] = this.toWorld(this.width / 2, this.height / 2);
    localStorage.setItem(key, JSON.stringify({ cx, cy, scale: this.scale }));
  }

  /** The camera kept under `key`, if there is a good one; true if it was restored. */
  restore(key) {
    let kept = null;
    try { kept = JSON.parse(localStorage.getItem(key) || "null"); } catch { return false; }
    if (!kept || ![kept.cx, kept.cy, kept.scale].every(Number.isFinite)) return false;
    const s = clamp(kept.scale, MIN_SCALE, MAX_SCALE);
    this.setCamera(kept.cx - this.width / 2 / s, kept.cy - this.height / 2 / s, s);
    return true;
  }

  /** Centre the view on a level-0 point, keeping the zoom. */
  centreOn(wx, wy) { this.setCamera(wx - this.width / 2 / this.scale, wy - this.height / 2 / this.scale, this.scale); }

  setCamera(ox, oy, scale) {
    this.ox = ox; this.oy = oy; this.scale = scale;
    this.onchange();
  }

  /** Zoom by `factor` keeping the level-0 point under screen (sx, sy) where it is. */
  zoomAt(sx, sy, factor) {
    const scale = clamp(this.scale * factor, MIN_SCALE, MAX_SCALE);
    const [wx, wy] = this.toWorld(sx, sy);
    this.setCamera(wx - sx / scale, wy - sy / scale, scale);
  }

  panBy(dx, dy) { this.setCamera(this.ox - dx / this.scale, this.oy - dy / this.scale, this.scale); }

  listen() {
    const el = this.element;
    // The wheel is heard on the stage, so it zooms over the frame and the buttons too.
    (el.parentElement || el).addEventListener("wheel", (event) => {
      event.preventDefault();
      const rect = el.getBoundingClientRect();
      const dy = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
      // A touchpad pinch arrives as ctrl+wheel with deltaY = -100 ln(scale) in all: exp(-dy / 100)
      // makes the content follow the fingers. A plain wheel zooms more gently.
      if (event.ctrlKey || Math.abs(dy) >= 1) this.zoomAt(event.clientX - rect.left, event.clientY - rect.top, Math.exp(event.ctrlKey ? -dy / 100 : -dy * 0.0015));
    }, { passive: false });
    el.addEventListener("pointerdown", (event) => {
      if (!this.enabled && event.pointerType === "mouse" && event.button === 0) return;
      if (event.button !== 0 && event.button !== 1) return;
      el.setPointerCapture(event.pointerId);
      this.pointers.set(event.pointerId, [event.clientX, event.clientY]);
      el.classList.add("panning");
    });
    el.addEventListener("pointermove", (event) => {
      const last = this.pointers.get(event.pointerId);
      if (!last) return;
      if (this.pointers.size === 2) {
        const [a, b] = [...this.pointers.values()];
        const before = Math.hypot(a[0] - b[0], a[1] - b[1]);
        this.pointers.set(event.pointerId, [event.clientX, event.clientY]);
        const [c, d] = [...this.pointers.values()];
        const after = Math.hypot(c[0] - d[0], c[1] - d[1]);
        const rect = el.getBoundingClientRect();
        const mx = (c[0] + d[0]) / 2 - rect.left, my = (c[1] + d[1]) / 2 - rect.top;
        this.panBy((event.clientX - last[0]) / 2, (event.clientY - last[1]) / 2);
        if (before > 0) this.zoomAt(mx, my, after / before);
        return;
      }
      this.pointers.set(event.pointerId, [event.clientX, event.clientY]);
      this.panBy(event.clientX - last[0], event.clientY - last[1]);
    });
    const end = (event) => {
      this.pointers.delete(event.pointerId);
      if (!this.pointers.size) el.classList.remove("panning");
    };
    el.addEventListener("pointerup", end);
    el.addEventListener("pointercancel", end);
  }
}
