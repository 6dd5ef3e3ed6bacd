/**
 * The LoRA picker: LoRAs of the library that fit the model's family, added to the prompt as
 * `<lora:NAME:1>`; one row per tag in the prompt (typed by hand too) with its weight (0 to
 * 2, step 0.05), which rewrites that tag, and a button that takes it out. The prompt is
 * the only truth: the rows are read from it on every change (lora_tags.js).
 *
 *   const picker = new LoraPicker(element, panel, () => "sd1");   // the family LoRAs must fit
 *   picker.offer(welcome.loras);
 *   picker.refresh();                                              // after the prompt changed
 */

import { MAX_WEIGHT, entryOf, formatWeight, loraFits, loraTags, withTag, withWeight, withoutTag } from "./lora_tags.js";

export class LoraPicker {
  constructor(element, panel, family) {
    this.element = element;
    this.panel = panel;
    this.family = family;
    this.loras = [];  // welcome.loras: {name, family, label, size}
    element.innerHTML = `
      <label for="lora-add">LoRAs <span class="muted">(written into the prompt)</span></label>
      <div class="inline">
        <select id="lora-add" title="A LoRA of the models folders that fits the model"></select>
        <button id="lora-add-button" title="Add it to the prompt as &lt;lora:NAME:1&gt;">Add</button>
      </div>
      <ul id="loras" class="loras" aria-label="LoRAs in the prompt"></ul>`;
    this.select = element.querySelector("#lora-add");
    this.list = element.querySelector("#loras");
    this.addButton = element.querySelector("#lora-add-button");
    this.addButton.addEventListener("click", () => this.add());
    this.select.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); this.add(); } });
    this.list.addEventListener("input", (e) => { if (e.target.matches("input")) this.reweigh(e.target); });
    this.list.addEventListener("click", (e) => { const b = e.target.closest("button"); if (b) this.remove(b); });
  }

  offer(loras) {
    this.loras = loras;
    this.refresh();
  }

  prompt() { return this.panel.controls.get("prompt")?.value ?? ""; }

  /** The prompt's tags, each with a key (its name and which time it is named: the server
   *  refuses a LoRA named twice, but the picker still shows and edits both). */
  tags() {
    const seen = new Map();
    return loraTags(this.prompt()).map((tag) => {
      const n = seen.get(tag.name) || 0;
      seen.set(tag.name, n + 1);
      return { ...tag, key: `${tag.name}#${n}` };
    });
  }

  refresh() {
    const tags = this.tags(), family = this.family();
    const used = new Set(tags.map((tag) => entryOf(tag.name, this.loras)?.name ?? tag.name));
    const fitting = this.loras.filter((lora) => loraFits(lora.family, family) && !used.has(lora.name));
    const placeholder = new Option(fitting.length ? "Add a LoRA…" : !this.loras.length ? "none in the folders"
      : this.loras.some((lora) => loraFits(lora.family, family)) ? "all of them added" : "none fits this model", "");
    const options = fitting.map((lora) => {
      const option = new Option(lora.name, lora.name);
      option.title = `${lora.name} · ${lora.label || "family unknown"}`;
      return option;
    });
    const wanted = this.select.value;
    this.select.replaceChildren(placeholder, ...options);
    this.select.value = fitting.some((lora) => lora.name === wanted) ? wanted : "";
    this.select.disabled = this.addButton.disabled = fitting.length === 0;
    this.rows(tags, family);
  }

  /** One row per tag; rows of tags still there are kept (a weight being typed keeps its focus). */
  rows(tags, family) {
    const old = new Map([...this.list.children].map((li) => [li.dataset.key, li]));
    const rows = tags.map((tag) => {
      const li = old.get(tag.key) || this.row(tag);
      const input = li.querySelector("input");
      if (document.activeElement !== input) input.value = tag.error ? "" : formatWeight(tag.weight);
      const entry = entryOf(tag.name, this.loras);
      let problem = tag.error;
      if (!problem && !entry) problem = `${tag.name} is not in the models folders: the server refuses the job`;
      if (!problem && !loraFits(entry.family, family)) problem = `${tag.name} is for ${entry.label}, not for this model: the server refuses the job`;
      li.classList.toggle("problem", Boolean(problem));
      const split = tag.te !== tag.unet ? ` (text encoders ${tag.te}, denoiser ${tag.unet}: a weight here sets both)` : "";
      li.title = problem || `${tag.written}${split}`;
      return li;
    });
    // Unchanged rows stay put: taking a focused input out of the page would blur it.
    const same = rows.length === this.list.children.length && rows.every((li, i) => this.list.children[i] === li);
    if (same) return;
    const focused = this.list.contains(document.activeElement) ? document.activeElement : null;
    this.list.replaceChildren(...rows);
    if (focused && focused.isConnected) focused.focus();
  }

  row(tag) {
    const li = document.createElement("li");
    li.dataset.key = tag.key;
    const name = Object.assign(document.createElement("span"), { className: "lora-name", textContent: tag.name });
    const input = Object.assign(document.createElement("input"), { type: "number", min: 0, max: 2, step: 0.05 });
    input.setAttribute("aria-label", `Weight of ${tag.name}`);
    const remove = Object.assign(document.createElement("button"), { className: "icon-button", textContent: "×",
      title: `Take ${tag.name} out of the prompt` });
    remove.setAttribute("aria-label", `Remove ${tag.name}`);
    li.append(name, input, remove);
    return li;
  }

  /** The tag a row shows, as the prompt has it now (null if it is gone). */
  tagOf(element) {
    const key = element.closest("li").dataset.key;
    return this.tags().find((tag) => tag.key === key) || null;
  }

  add() {
    const name = this.select.value;
    if (!name) return;
    this.panel.set("prompt", withTag(this.prompt(), name, 1));  // the panel tells us: refresh
    this.list.querySelector(`li[data-key="${CSS.escape(`${name}#0`)}"] input`)?.focus();
  }

  reweigh(input) {
    const tag = this.tagOf(input), weight = Number(input.value);
    if (!tag || input.value.trim() === "" || !Number.isFinite(weight) || Math.abs(weight) > MAX_WEIGHT) return;
    this.panel.set("prompt", withWeight(this.prompt(), tag, weight));
  }

  remove(button) {
    const tag = this.tagOf(button);
    if (!tag) return;
    const li = button.closest("li"), next = li.nextElementSibling || li.previousElementSibling;
    const nextKey = next?.dataset.key;
    this.panel.set("prompt", withoutTag(this.prompt(), tag));
    // Keyboard users stay in the list: the next row's remove button, else the add select.
    const target = nextKey ? this.list.querySelector(`li[data-key="${CSS.escape(nextKey)}"] button`) : null;
    (target || this.select).focus();
  }
}
