import { ApiError } from "../api-error.ts";
import { h } from "../dom.ts";

/** An alert box for an error; shows the problem's detail and its stable code. */
export function errorBox(err: unknown): HTMLElement {
  if (err instanceof ApiError) {
    return h("div", { class: "alert alert-error", role: "alert" },
      h("strong", {}, err.title), " ", err.detail ?? "",
      h("span", { class: "muted code" }, ` (${err.code})`));
  }
  const message = err instanceof Error ? err.message : String(err);
  return h("div", { class: "alert alert-error", role: "alert" }, message);
}

/** True for the rejection an aborted fetch or sleep produces (a navigation, not a failure). */
export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return signal?.aborted === true || (err instanceof DOMException && err.name === "AbortError");
}

/** A small pill, e.g. a status or a license. */
export function badge(text: string, kind = ""): HTMLElement {
  return h("span", { class: `badge ${kind ? `badge-${kind}` : ""}`.trim() }, text);
}

/** A monospace value shown shortened, with the full text on hover and a copy button. */
export function hexValue(full: string, shown: string): HTMLElement {
  const copy = h("button", { type: "button", class: "icon-button", title: "Copy", "aria-label": `Copy ${full}` }, "⧉");
  copy.addEventListener("click", () => {
    void navigator.clipboard?.writeText(full).then(() => {
      copy.textContent = "✓";
      setTimeout(() => (copy.textContent = "⧉"), 1200);
    });
  });
  return h("span", { class: "hex" }, h("code", { title: full }, shown), copy);
}

/** "Loading…" placeholder with a live region so screen readers hear it. */
export function loading(text = "Loading…"): HTMLElement {
  return h("p", { class: "muted loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}
