import { ApiError } from "../api-error.ts";
import { h } from "../dom.ts";
import { routeHref } from "../router.ts";

/** An alert box for an error; shows the problem's detail and its stable code. */
export function errorBox(err: unknown): HTMLElement {
  if (err instanceof ApiError) {
    const fields = Object.entries(err.fields);
    return h("div", { class: "alert alert-error", role: "alert" },
      h("strong", {}, err.title), " ", err.detail ?? "",
      h("span", { class: "muted code" }, ` (${err.code})`),
      fields.length > 0
        ? h("ul", { class: "issues" }, fields.map(([path, message]) => h("li", {}, path ? h("code", {}, path) : null, path ? ": " : "", message)))
        : null);
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
  const copy = h("button", { type: "button", class: "icon-button", title: "Copy", "aria-label": `Copy ${full}` }, copyIcon());
  copy.addEventListener("click", () => {
    void navigator.clipboard?.writeText(full).then(() => {
      copy.textContent = "✓";
      setTimeout(() => copy.replaceChildren(copyIcon()), 1200);
    });
  });
  return h("span", { class: "hex" }, h("code", { title: full }, shown), copy);
}

/** "Loading…" placeholder with a live region so screen readers hear it. */
export function loading(text = "Loading…"): HTMLElement {
  return h("p", { class: "muted loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}

/** Two overlapping rounded squares, drawn as SVG so it needs no icon font. */
function copyIcon(): SVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "13");
  svg.setAttribute("height", "13");
  svg.setAttribute("aria-hidden", "true");
  for (const [x, y] of [[5, 5], [2, 2]] as const) {
    const rect = document.createElementNS(ns, "rect");
    for (const [k, v] of Object.entries({ x, y, width: 9, height: 9, rx: 2, fill: "none", stroke: "currentColor", "stroke-width": 1.5 })) {
      rect.setAttribute(k, String(v));
    }
    svg.append(rect);
  }
  return svg;
}

/** For a visitor where an action needs an account: a link to sign in that comes back to this page. */
export function signInPrompt(text: string): HTMLElement {
  return h("p", { class: "sign-in-prompt", "data-testid": "sign-in-prompt" },
    h("a", { class: "button", href: routeHref({ name: "sign-in", next: location.hash || "#/" }) }, "Sign in"), " ", text);
}
