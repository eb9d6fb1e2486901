/** Hash routes, so the runtime only has to serve index.html at `/`. */
export type Route =
  | { name: "list"; q: string; tag: string }
  | { name: "create" }
  | { name: "datanet"; id: string }
  | { name: "not-found"; path: string };

/** Parses `location.hash` (e.g. "#/datanets/dn_1") into a route. */
export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, "") || "/";
  const [path = "/", search = ""] = raw.split("?", 2);
  const params = new URLSearchParams(search);
  if (path === "/" || path === "/datanets") return { name: "list", q: params.get("q") ?? "", tag: params.get("tag") ?? "" };
  if (path === "/datanets/new") return { name: "create" };
  const match = /^\/datanets\/([^/]+)$/.exec(path);
  if (match?.[1]) return { name: "datanet", id: decodeURIComponent(match[1]) };
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
    case "not-found":
      return `#${route.path}`;
  }
}
