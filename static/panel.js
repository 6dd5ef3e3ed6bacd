/**
 * The settings panel: every form control with a `data-setting` attribute is a job
 * parameter (or a client setting such as the expand amount). Values survive a reload
 * through localStorage; `params()` gives the job's `params` in the protocol's types.
 *
 *   <input data-setting="steps" type="number" value="25" data-kind="int">
 *   const panel = new Panel(document.querySelector("#settings"), "boundless.settings");
 *   conn.request({ type: "outpaint", ...frame, params: panel.params() });
 */

// Keys sent to the server with a job; others (expand amount, brush size) stay in the client.
const JOB_KEYS = ["prompt", "negative_prompt", "seed", "steps", "guidance", "strength", "candidates",
  "patch_size", "window", "context", "pad", "feather", "colour_match"];

export class Panel {
  constructor(root, storageKey) {
    this.root = root;
    this.storageKey = storageKey;
    this.controls = new Map([...root.querySelectorAll("[data-setting]")].map((el) => [el.dataset.setting, el]));
    this.defaults = Object.fromEntries([...this.controls].map(([key, el]) => [key, this.raw(el)]));
    this.onchange = () => {};
    this.load();
    root.addEventListener("input", (event) => {
      if (event.target.dataset.setting) { this.save(); this.onchange(event.target.dataset.setting); }
    });
  }

  load() {
    let saved = {};
    try { saved = JSON.parse(localStorage.getItem(this.storageKey) || "{}"); } catch { saved = {}; }
    for (const [key, value] of Object.entries(saved)) {
      const el = this.controls.get(key);
      if (el) this.setRaw(el, value);
    }
  }

  /** A control's value as stored: text, or true/false for a checkbox. */
  raw(el) { return el.type === "checkbox" ? el.checked : el.value; }
  setRaw(el, value) { if (el.type === "checkbox") el.checked = Boolean(value); else el.value = value; }

  save() {
    const values = Object.fromEntries([...this.controls].map(([key, el]) => [key, this.raw(el)]));
    localStorage.setItem(this.storageKey, JSON.stringify(values));
  }

  reset() {
    for (const [key, el] of this.controls) this.setRaw(el, this.defaults[key]);
    this.save();
    this.onchange(null);
  }

  set(key, value) { this.setRaw(this.controls.get(key), typeof value === "boolean" ? value : String(value)); this.save(); this.onchange(key); }

  /** One setting in its type: number inputs as numbers (NaN-free), the rest as text. */
  value(key) {
    const el = this.controls.get(key);
    if (!el) return undefined;
    const kind = el.dataset.kind;
    if (el.type === "checkbox") return el.checked;
    if (kind === "int" || kind === "float") {
      const n = kind === "int" ? parseInt(el.value, 10) : parseFloat(el.value);
      const fallback = kind === "int" ? parseInt(this.defaults[key], 10) : parseFloat(this.defaults[key]);
      let v = Number.isFinite(n) ? n : fallback;
      if (el.hasAttribute("min")) v = Math.max(Number(el.getAttribute("min")), v);
      if (el.hasAttribute("max")) v = Math.min(Number(el.getAttribute("max")), v);
      return v;
    }
    return el.value;
  }

  /** The job parameters, as the protocol's `params`. */
  params() {
    const params = {};
    for (const key of JOB_KEYS) if (this.controls.has(key)) params[key] = this.value(key);
    params.feather = Math.min(params.feather ?? 0, params.pad ?? 0);
    params.auto_accept = params.candidates === 1;
    return params;
  }
}
