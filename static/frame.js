/**
 * The generation frame: a rectangle on level 0 that outpainting, inpainting, upload and
 * export act on. Drag its body to move it, its edges and corners to resize it in 64 px
 * steps; presets set 512, 768 or 1024 a side. Its edges snap to the border of the known
 * area, and its label says how much known context it holds. Two fingers are a pinch
 * wherever they land: the frame gives touches to the view once a second one is down.
 *
 *   const frame = new Frame(overlayElement, view);
 *   frame.set(new Rect(0, 0, 512, 512));
 *   frame.known = new Rect(0, 0, 1024, 1024);    // the canvas's known bounds
 *   frame.onchange = (rect) => save(rect);
 */

import { Rect, snap } from "./geometry.js";

export const STEP = 64;
export const MIN_SIDE = 128;
export const MAX_SIDE = 4096;
const SNAP_PX = 16; // screen pixels within which an edge snaps to the known area's border
const HANDLE_OUT = 7;  // px a handle reaches out of the frame's padding box (style.css: .handle-*)
const HANDLE = 12;     // px, a handle's side (style.css: .handle)
const LABEL_ROOM = 28; // px the size label needs above the frame
const BORDER = 2;      // the frame's border width (style.css: .frame)

export class Frame {
  constructor(parent, view) {
    this.view = view;
    this.rect = new Rect(0, 0, 512, 512);
    this.known = new Rect();
    this.onchange = () => {};
    this.movable = true;   // false while the brush paints inside the frame
    this.element = document.createElement("div");
    this.element.className = "frame";
    this.element.innerHTML = `
      <div class="frame-label"><span class="frame-size"></span><span class="frame-context"></span></div>
      ${["n", "s", "e", "w", "ne", "nw", "se", "sw"].map((h) => `<div class="handle handle-${h}" data-handle="${h}"></div>`).join("")}`;
    parent.appendChild(this.element);
    this.insets = "";  // the handles' offsets, as last written (see layout)
    this.box = [0, 0, 0, 0];  // the frame's edges on screen (x0, y0, x1, y1), as last laid out
    this.offsets = [-HANDLE_OUT, -HANDLE_OUT, -HANDLE_OUT, -HANDLE_OUT];  // left, top, right, bottom
    this.sizeLabel = this.element.querySelector(".frame-size");
    this.contextLabel = this.element.querySelector(".frame-context");
    this.listen();
  }

  set(rect) {
    const w = Math.min(MAX_SIDE, Math.max(MIN_SIDE, snap(rect.w, STEP)));
    const h = Math.min(MAX_SIDE, Math.max(MIN_SIDE, snap(rect.h, STEP)));
    this.rect = new Rect(Math.round(rect.x), Math.round(rect.y), w, h);
    this.layout();
    this.onchange(this.rect);
  }

  /** A square preset, keeping the frame's centre. */
  preset(side) {
    const r = this.rect;
    this.set(new Rect(Math.round(r.x + r.w / 2 - side / 2), Math.round(r.y + r.h / 2 - side / 2), side, side));
  }

  /** The share of the frame covered by the known area's bounds, 0..1. */
  context() {
    return this.rect.area ? this.rect.intersect(this.known).area / this.rect.area : 0;
  }

  layout() {
    const [x0, y0] = this.view.toScreen(this.rect.x, this.rect.y);
    const [x1, y1] = this.view.toScreen(this.rect.x1, this.rect.y1);
    const style = this.element.style;
    style.left = `${Math.round(x0)}px`;
    style.top = `${Math.round(y0)}px`;
    style.width = `${Math.round(x1) - Math.round(x0)}px`;
    style.height = `${Math.round(y1) - Math.round(y0)}px`;
    this.keepHandlesInView(Math.round(x0), Math.round(y0), Math.round(x1), Math.round(y1));
    this.element.classList.toggle("label-inside", Math.round(y0) < LABEL_ROOM);  // no room above: inside the frame
    // Text is set only when it changes: a new text node would cost a layout every frame.
    const size = `${this.rect.w} × ${this.rect.h}`;
    if (this.sizeLabel.textContent !== size) this.sizeLabel.textContent = size;
    const share = this.context();
    const context = share === 0 ? "no context" : share >= 0.999 ? "all known" : `${Math.round(share * 100)}% context`;
    if (this.contextLabel.textContent !== context) this.contextLabel.textContent = context;
    this.element.classList.toggle("frame-empty", share === 0);
  }

  /**
   * An edge of the frame at the edge of the view (or just past it) keeps its handles
   * inside the view, where they can be grabbed: they move in from their usual place just
   * outside the frame. Edges further off screen keep theirs there, out of sight.
   */
  keepHandlesInView(x0, y0, x1, y1) {
    const { width, height } = this.view, out = -HANDLE_OUT, reach = HANDLE_OUT + BORDER + 1;
    // Each side's offset (CSS left/top/right/bottom of its handles) that puts them 1 px inside the view.
    const inset = (from, limit) => (from > -reach ? Math.max(out, limit) : out);
    const offsets = [inset(x0, -1 - x0), inset(y0, -1 - y0), inset(width - x1, x1 - 1 - width), inset(height - y1, y1 - 1 - height)];
    this.box = [x0, y0, x1, y1];
    this.offsets = offsets;
    const insets = offsets.join(" ");
    if (insets === this.insets) return;
    this.insets = insets;
    ["--handle-left", "--handle-top", "--handle-right", "--handle-bottom"].forEach((name, i) => this.element.style.setProperty(name, `${offsets[i]}px`));
  }

  /** The handles' boxes in the view's px ({left, top, right, bottom}), as last laid out: computed, not read from the page. */
  handleBoxes() {
    const [x0, y0, x1, y1] = this.box, [left, top, right, bottom] = this.offsets;
    const xs = { w: x0 + BORDER + left, e: x1 - BORDER - right - HANDLE, mid: (x0 + x1) / 2 - HANDLE / 2 };
    const ys = { n: y0 + BORDER + top, s: y1 - BORDER - bottom - HANDLE, mid: (y0 + y1) / 2 - HANDLE / 2 };
    return ["n", "s", "e", "w", "ne", "nw", "se", "sw"].map((h) => {
      const x = h.includes("e") ? xs.e : h.includes("w") ? xs.w : xs.mid;
      const y = h.includes("n") ? ys.n : h.includes("s") ? ys.s : ys.mid;
      return { left: x, top: y, right: x + HANDLE, bottom: y + HANDLE };
    });
  }

  /** Snap one coordinate to the known area's border when it is within a few screen px. */
  snapEdge(value, edges) {
    const reach = SNAP_PX / this.view.scale;
    for (const edge of edges) if (Math.abs(value - edge) <= reach) return edge;
    return value;
  }

  /**
   * A pinch began with a finger on the frame: undo the frame's drag (or end the brush's
   * stroke) and give the fingers to the view, which pans and zooms with them from here
   * (its pointerdown takes the pointer capture).
   */
  handOver(touches) {
    const fingers = [...touches.values()];
    touches.clear();
    for (const e of fingers) this.element.dispatchEvent(new PointerEvent("pointercancel", pointerInit(e)));
    for (const e of fingers) this.view.element.dispatchEvent(new PointerEvent("pointerdown", pointerInit(e)));
  }

  listen() {
    let drag = null;
    const touches = new Map();  // touch pointers down on the frame: id -> their last event
    this.view.element.addEventListener("pointerdown", (event) => {
      if (event.pointerType === "touch" && touches.size) this.handOver(touches);
    });
    this.element.addEventListener("pointerdown", (event) => {
      if (event.pointerType === "touch") {
        touches.set(event.pointerId, event);
        if (touches.size > 1 || this.view.pointers.size > 0) {
          event.stopImmediatePropagation();  // the brush paints no second finger
          this.handOver(touches);
          return;
        }
      }
      const handle = event.target.dataset.handle;
      if (!handle && !this.movable) return;
      if (event.button !== 0) return;
      event.stopPropagation();
      event.preventDefault();
      this.element.setPointerCapture(event.pointerId);
      drag = { handle, start: this.view.fromEvent(event), rect: this.rect };
      this.element.classList.add("dragging");
    });
    this.element.addEventListener("pointermove", (event) => {
      if (touches.has(event.pointerId)) touches.set(event.pointerId, event);
      if (!drag) return;
      const [wx, wy] = this.view.fromEvent(event);
      const dx = wx - drag.start[0], dy = wy - drag.start[1];
      const r = drag.rect, k = this.known, hasKnown = !k.empty;
      const xs = hasKnown ? [k.x, k.x1] : [], ys = hasKnown ? [k.y, k.y1] : [];
      if (!drag.handle) {
        let x = Math.round(r.x + dx), y = Math.round(r.y + dy);
        const sx = this.snapEdge(x, xs), sx1 = this.snapEdge(x + r.w, xs);
        x = sx !== x ? sx : sx1 !== x + r.w ? sx1 - r.w : x;
        const sy = this.snapEdge(y, ys), sy1 = this.snapEdge(y + r.h, ys);
        y = sy !== y ? sy : sy1 !== y + r.h ? sy1 - r.h : y;
        this.set(new Rect(x, y, r.w, r.h));
        return;
      }
      let x0 = r.x, y0 = r.y, x1 = r.x1, y1 = r.y1;
      const side = (v) => Math.max(MIN_SIDE, Math.min(MAX_SIDE, snap(v, STEP)));
      if (drag.handle.includes("e")) x1 = x0 + side(this.snapEdge(r.x1 + dx, xs) - x0);
      if (drag.handle.includes("w")) x0 = x1 - side(x1 - this.snapEdge(r.x + dx, xs));
      if (drag.handle.includes("s")) y1 = y0 + side(this.snapEdge(r.y1 + dy, ys) - y0);
      if (drag.handle.includes("n")) y0 = y1 - side(y1 - this.snapEdge(r.y + dy, ys));
      this.set(Rect.fromEdges(x0, y0, x1, y1));
    });
    const end = (event) => {
      touches.delete(event.pointerId);
      if (drag && event.type === "pointercancel") this.set(drag.rect);
      drag = null;
      this.element.classList.remove("dragging");
    };
    this.element.addEventListener("pointerup", end);
    this.element.addEventListener("pointercancel", end);
  }
}

/** What a synthetic copy of a pointer event needs. */
function pointerInit(e) {
  const { pointerId, pointerType, isPrimary, clientX, clientY, screenX, screenY } = e;
  return { pointerId, pointerType, isPrimary, clientX, clientY, screenX, screenY, button: 0, buttons: 1, bubbles: true, cancelable: true };
}
