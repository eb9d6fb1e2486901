/** Hash routes, so the runtime only has to serve index.html at `/`. */
export type Route =
  | { name: "list"; q: string; tag: string }
  | { name: "create" }
  | { name: "datanet"; id: string }
  /** The fine-tune form, with a Datanet version preselected when it comes from one. */
  | { name: "new-job"; datanet: string; version: number | undefined; /** A job whose data and settings are copied (clone, retry). */ from: string }
  | { name: "jobs" }
  | { name: "job"; id: string }
  | { name: "adapters"; mine: boolean }
  | { name: "adapter"; id: string }
  /** Earnings of the signed-in account: contributions, rewards per epoch, claims, and its adapters' revenue. */
  | { name: "earnings" }
  /** Sign-in, then on to `next` (a hash such as "#/datanets/new"; "" for the Datanets list). */
  | { name: "sign-in"; next: string }
  | { name: "not-found"; path: string };

/** Parses `location.hash` (e.g. "#/datanets/dn_1") into a route. */
export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, "") || "/";
  const [path = "/", search = ""] = raw.split("?", 2);
  const params = new URLSearchParams(search);
  if (path === "/" || path === "/datanets") return { name: "list", q: params.get("q") ?? "", tag: params.get("tag") ?? "" };
  if (path === "/datanets/new") return { name: "create" };
  if (path === "/jobs/new") {
    const version = Number(params.get("version"));
    return { name: "new-job", datanet: params.get("datanet") ?? "", version: Number.isInteger(version) && version > 0 ? version : undefined, from: params.get("from") ?? "" };
  }
  if (path === "/jobs") return { name: "jobs" };
  if (path === "/earnings") return { name: "earnings" };
  if (path === "/sign-in") {
    // Only a hash of this app: never a URL that would lead elsewhere.
    const next = params.get("next") ?? "";
    return { name: "sign-in", next: /^#\/[^/]/.test(next) || next === "#/" ? next : "" };
  }
  if (path === "/adapters") return { name: "adapters", mine: params.get("mine") === "1" };
  const match = /^\/(datanets|jobs|adapters)\/([^/]+)$/.exec(path);
  if (match?.[2]) {
    const id = decodeURIComponent(match[2]);
    return match[1] === "datanets" ? { name: "datanet", id } : match[1] === "jobs" ? { name: "job", id } : { name: "adapter", id };
  }
  return { name: "not-found", path };
}

/** The hash for a route; the inverse of parseRoute. */
export function routeHref(route: Route): string {
  switch (route.name) {
    case "list": {
      const params = new URLSearchParams();
      if (route.q) params.set("q", route.q);
      if (route.tag) params.set("tag", route.tag);
      const s = params.toString();
      return s ? `#/?${s}` : "#/";
    }
    case "create":
      return "#/datanets/new";
    case "datanet":
      return `#/datanets/${encodeURIComponent(route.id)}`;
    case "new-job": {
      const params = new URLSearchParams();
      if (route.datanet) params.set("datanet", route.datanet);
      if (route.datanet && route.version !== undefined) params.set("version", String(route.version));
      if (route.from) params.set("from", route.from);
      const s = params.toString();
      return s ? `#/jobs/new?${s}` : "#/jobs/new";
    }
    case "jobs":
      return "#/jobs";
    case "job":
      return `#/jobs/${encodeURIComponent(route.id)}`;
    case "adapters":
      return route.mine ? "#/adapters?mine=1" : "#/adapters";
    case "adapter":
      return `#/adapters/${encodeURIComponent(route.id)}`;
    case "earnings":
      return "#/earnings";
    case "sign-in":
      return route.next ? `#/sign-in?${new URLSearchParams({ next: route.next }).toString()}` : "#/sign-in";
    case "not-found":
      return `#${route.path}`;
  }
}
