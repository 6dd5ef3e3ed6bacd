/**
 * The models library in the panel (`serve --models DIR`): a model picker grouped by family,
 * a rescan button and the LoRA picker (loras.js), shown while the diffusion painter is
 * chosen on a server with a library (`welcome.families` is empty without one).
 *
 * The chosen model is saved per painter like the panel's other settings
 * ("diffusion:model"); "the server's model" sends no `model`, and so does a saved name the
 * server no longer lists. A model of a family sets the steps, guidance, settings shown and
 * window to that family's (`welcome.families`, what the server gives a job naming it),
 * unless the user typed them. Lists follow `models.changed` (every viewer's, after anyone's
 * rescan).
 *
 *   const models = new Models(painterSection, panel, conn, toast);  // its grid holds #painter-options
 *   models.offer(welcome);             // its models, loras and families
 *   models.settingChanged(key);        // from the panel's onchange: painter, prompt, reset
 */

import { LoraPicker } from "./loras.js";

const DIFFUSION = "diffusion";  // the painter that paints with models (the server's check_job)
const DEFAULT = "";  // the option of the server's own model: no `model` in the job

/** A size in bytes as people read it: "1.99 GB", "12.3 MB". */
export function sizeText(bytes) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = Number(bytes) || 0, unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit++; }
  return unit === 0 ? `${value} bytes` : `${value.toPrecision(3)} ${units[unit]}`;
}

export class Models {
  constructor(section, panel, conn, toast) {
    this.panel = panel;
    this.conn = conn;
    this.toast = toast;
    this.models = [];
    this.families = {};  // family key -> {label, uses, defaults, window}
    this.element = this.build();
    // Under the painter, before its options: what paints, then how.
    section.querySelector("#painter-options").before(this.element);
    this.select = this.element.querySelector("#model");
    this.rescanButton = this.element.querySelector("#rescan");
    this.loras = new LoraPicker(this.element.querySelector("#lora-picker"), panel, () => this.family());
    this.select.addEventListener("change", () => this.choose());
    this.rescanButton.addEventListener("click", () => this.rescan());
    panel.contribute((painter) => this.params(painter));
    conn.on("models.changed", (m) => this.list(m.models, m.loras));
  }

  build() {
    const box = document.createElement("div");
    box.id = "models";
    box.className = "models";
    box.hidden = true;
    // No data-setting: the panel's generic saving leaves these alone (saved per painter here).
    box.innerHTML = `
      <label for="model" class="wide">Model</label>
      <div class="inline wide">
        <select id="model" title="The model of the next jobs (from the server's models folders)"></select>
        <button id="rescan" class="icon-button" aria-label="Rescan the models folders" title="Scan the models folders again (new or removed files)">↻</button>
      </div>
      <div id="lora-picker" class="wide"></div>`;
    return box;
  }

  /** The library of `welcome`: its models, LoRAs and the families' defaults. */
  offer(welcome) {
    this.families = welcome.families && typeof welcome.families === "object" ? welcome.families : {};
    this.list(welcome.models, welcome.loras);
  }

  /** New lists (welcome, models.changed): the picker keeps the saved choice if it is listed. */
  list(models, loras) {
    this.models = Array.isArray(models) ? models : [];
    this.fill();
    this.loras.offer(Array.isArray(loras) ? loras : []);
    this.show();
  }

  /** Whether the server has a library (an empty one still shows the picker: rescan finds files). */
  get library() { return Object.keys(this.families).length > 0; }

  /** The select's options: the server's model, then each model by name under its family. */
  fill() {
    const own = this.panel.info[DIFFUSION]?.label;
    const first = new Option("the server's model", DEFAULT);
    first.title = own ? `The model the server was started with (${own})` : "The model the server was started with";
    const groups = new Map();
    for (const model of this.models) {
      const label = model.label || "Other";
      if (!groups.has(label)) groups.set(label, Object.assign(document.createElement("optgroup"), { label }));
      const option = new Option(model.name, model.name);
      option.title = `${model.name} · ${model.label || "family unknown"} · ${sizeText(model.size)}`;
      groups.get(label).append(option);
    }
    this.select.replaceChildren(first, ...groups.values());
    this.select.value = this.listed(this.saved()) ? this.saved() : DEFAULT;
  }

  /** A listed model's size as people read it ("2.13 GB"), or null. */
  sizeOf(name) {
    const model = this.models.find((m) => m.name === name);
    return model ? sizeText(model.size) : null;
  }

  saved() { return String(this.panel.saved[`${DIFFUSION}:model`] ?? DEFAULT); }
  listed(name) { return name !== DEFAULT && this.models.some((model) => model.name === name); }

  /** The chosen model's entry, or null (the server's model). */
  chosen() { return this.models.find((model) => model.name === this.select.value) || null; }

  /** The family the LoRAs must fit: the chosen model's, else the painter's own (or null: unknown). */
  family() { return this.chosen()?.family || this.panel.info[DIFFUSION]?.family || null; }

  choose() {
    this.panel.saved[`${DIFFUSION}:model`] = this.select.value;
    this.panel.save();
    this.follow();
    this.loras.refresh();
  }

  /** The panel shows what a job naming the chosen model gets: its family's settings and defaults. */
  follow() {
    const family = this.chosen()?.family;
    this.panel.useFamily(DIFFUSION, family && this.families[family] ? this.families[family] : null);
  }

  show() {
    this.element.hidden = !(this.library && this.panel.painter() === DIFFUSION);
    this.follow();
  }

  params(painter) {
    return painter === DIFFUSION && this.library && this.chosen() ? { model: this.select.value } : {};
  }

  settingChanged(key) {
    if (key === null) this.fill();  // a reset: the server's model again
    if (key === null || key === "painter") this.show();
    if (key === null || key === "prompt") this.loras.refresh();
  }

  async rescan() {
    this.rescanButton.disabled = true;
    try {
      const found = await this.conn.request({ type: "rescan" });
      this.toast(`The models folders hold ${found.models} models and ${found.loras} LoRAs.`);
    } catch (err) {
      this.toast(`Rescan failed: ${err.message}`, true);
    } finally {
      this.rescanButton.disabled = false;
    }
  }
}
