/**
 * LoRA tags in a prompt, read and written as the server reads them (canvas/painters/
 * diffusion/lora_tags.py, A1111's grammar): `<lora:NAME>`, `<lora:NAME:W>`,
 * `<lora:NAME:TE:UNET>`, `te=`/`unet=` by name, `<lyco:...>` alike; a weight left out is 1.
 * The prompt is the one source of truth: the LoRA picker shows what this finds and edits
 * the text.
 *
 *   const tags = loraTags("a castle <lora:ink:0.8>, night");   // [{name: "ink", weight: 0.8, start: 9, end: 23, ...}]
 *   withWeight(prompt, tags[0], 0.5);                           // "a castle <lora:ink:0.5>, night"
 *   withoutTag(prompt, tags[0]);                                // "a castle, night"
 *   withTag("a castle", "styles/ink");                          // "a castle <lora:styles/ink:1>"
 */

// A1111's `<(\w+):([^>]+)>`, for the two names that mean a LoRA.
const TAG = /<(lora|lyco):([^>]+)>/g;
export const MAX_WEIGHT = 10;  // the server refuses more: a typo (an extra zero)
// LoRAs of one family that fit models of another (the server's COMPATIBLE).
const COMPATIBLE = new Set(["flux>flux-fill"]);

/** A weight as the server reads it (Python's float of the stripped text), or null. */
function weightOf(text) {
  const trimmed = text.trim();
  const value = trimmed === "" ? NaN : Number(trimmed);
  return Number.isFinite(value) && Math.abs(value) <= MAX_WEIGHT ? value : null;
}

/**
 * Every LoRA tag of `prompt`, in order: `{kind, name, te, unet, weight, start, end, written,
 * extra, error}`; `weight` is the text encoders' (the one a picker shows), `extra` the named
 * arguments other than `te`/`unet` (kept when the weight is rewritten), `error` one line for
 * a tag the server would refuse (a weight that is no number, no name), else "".
 */
export function loraTags(prompt) {
  const tags = [];
  for (const match of String(prompt).matchAll(TAG)) {
    const [written, kind, body] = match, items = body.split(":");
    const name = items[0].trim(), positional = [], named = new Map(), extra = [];
    for (const item of items.slice(1)) {
      const at = item.indexOf("=");
      if (at < 0) { positional.push(item); continue; }
      const key = item.slice(0, at).trim();
      named.set(key, item.slice(at + 1));
      if (key !== "te" && key !== "unet") extra.push(item);
    }
    let error = name ? "" : `${written}: the tag names no LoRA`;
    const read = (text) => {
      const value = weightOf(text);
      if (value === null && !error) error = `${written}: the weight ${JSON.stringify(text.trim())} is not a number between ${-MAX_WEIGHT} and ${MAX_WEIGHT}`;
      return value ?? 1;
    };
    let te = positional.length ? read(positional[0]) : 1;
    let unet = positional.length > 1 ? read(positional[1]) : te;
    if (named.has("te")) te = read(named.get("te"));
    if (named.has("unet")) unet = read(named.get("unet"));
    tags.push({ kind, name, te, unet, weight: te, start: match.index, end: match.index + written.length, written, extra, error });
  }
  return tags;
}

/** A weight as a tag writes it: at most 2 decimals, no trailing zeros ("0.5", "1"). */
export function formatWeight(weight) { return String(Number(Number(weight).toFixed(2))); }

/** The prompt with `tag` (one of loraTags(prompt)) rewritten to one weight, for the text
 *  encoders and the denoiser alike; its other named arguments stay. */
export function withWeight(prompt, tag, weight) {
  const written = `<${tag.kind}:${tag.name}:${formatWeight(weight)}${tag.extra.map((item) => `:${item}`).join("")}>`;
  return prompt.slice(0, tag.start) + written + prompt.slice(tag.end);
}

/** The prompt without `tag`, and without the space or comma it leaves doubled. */
export function withoutTag(prompt, tag) {
  let before = prompt.slice(0, tag.start), after = prompt.slice(tag.end);
  if (/[\s,]$/.test(before) || before === "") after = after.replace(/^[ \t]+/, "");
  if (/^[\s,]|^$/.test(after)) before = before.replace(/[ \t]+$/, "");
  if (before.endsWith(",") && after.startsWith(",")) after = after.slice(1);
  return before + after;
}

/** The prompt with `<lora:NAME:WEIGHT>` added at its end. */
export function withTag(prompt, name, weight = 1) {
  const tag = `<lora:${name}:${formatWeight(weight)}>`;
  return prompt === "" || /\s$/.test(prompt) ? prompt + tag : `${prompt} ${tag}`;
}

/** Whether a LoRA of `loraFamily` may go on a model of `modelFamily` (an unknown family is tried). */
export function loraFits(loraFamily, modelFamily) {
  return !loraFamily || !modelFamily || loraFamily === modelFamily || COMPATIBLE.has(`${loraFamily}>${modelFamily}`);
}

/** The library entry a tag names: by its name, or (a name without a folder) the one entry
 *  of that file name in a subfolder, as the server finds it; null when none or several. */
export function entryOf(name, entries) {
  const exact = entries.find((entry) => entry.name === name);
  if (exact || name.includes("/")) return exact || null;
  const matches = entries.filter((entry) => entry.name.split("/").pop() === name);
  return matches.length === 1 ? matches[0] : null;
}
