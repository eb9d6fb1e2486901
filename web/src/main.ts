import { ApiClient } from "./api-client.ts";
import type { AppContext } from "./app-context.ts";
import { loadSession, saveSession, type Session } from "./auth/session.ts";
import { h, replace } from "./dom.ts";
import { shortHex } from "./format.ts";
import { parseRoute, routeHref, type Route } from "./router.ts";
import { errorBox, isAbort, loading } from "./views/common.ts";
import { signInView } from "./views/sign-in.ts";

/**
 * The app shell: a header with the signed-in account, and a main area that
 * re-renders on every hash change. Each render gets an AbortSignal that is
 * aborted on the next one, so requests and polls of a left page stop.
 */
function start(): void {
  let session: Session | undefined = loadSession();
  let current: AbortController | undefined;

  const ctx: AppContext = {
    api: new ApiClient({
      baseUrl: location.origin,
      apiKey: () => session?.apiKey,
      onUnauthorized: () => {
        // The key was revoked or the local data dir was wiped: sign in again.
        if (!session) return;
        ctx.setSession(undefined);
        render();
      },
    }),
    session: () => session,
    setSession(next) {
      session = next;
      saveSession(next);
      renderAccount();
    },
    navigate(route: Route) {
      location.hash = routeHref(route);
    },
    origin: { host: location.host, origin: location.origin },
  };

  const account = h("div", { class: "account" });
  // The sections of the app; the one the route belongs to is marked current.
  // Visitors browse Datanets and adapters; jobs and earnings are an account's own.
  const sections = [
    ["datanets", "Datanets", "#/", false],
    ["jobs", "Jobs", "#/jobs", true],
    ["adapters", "Adapters", "#/adapters", false],
    ["earnings", "Earnings", "#/earnings", true],
  ] as const;
  const navLinks = sections.map(([key, label, href, own]) => h("a", { href, "data-section": key, "data-own": own ? "true" : null }, label));
  const nav = h("nav", { class: "main-nav", "aria-label": "Main" }, navLinks);
  const main = h("main", { id: "main", tabindex: -1 });
  const shell = h("div", { class: "shell" },
    h("a", { class: "skip-link", href: "#main", onclick: (e: Event) => { e.preventDefault(); main.focus(); } }, "Skip to content"),
    h("header", { class: "topbar" },
      h("a", { class: "brand", href: "#/" }, h("span", { class: "logo", "aria-hidden": "true" }, "◆"), "Model Factory"),
      nav,
      account),
    main);
  document.body.append(shell);

  function renderAccount() {
    for (const link of navLinks) link.hidden = !session && link.dataset.own === "true";
    if (!session) {
      // Back to this page once signed in.
      const here = parseRoute(location.hash);
      const next = here.name === "sign-in" ? here.next : location.hash;
      return replace(account, h("a", { class: "button primary small", href: routeHref({ name: "sign-in", next }), "data-testid": "sign-in-link" }, "Sign in"));
    }
    const signOut = h("button", { type: "button", class: "button ghost small" }, "Sign out");
    signOut.addEventListener("click", () => {
      ctx.setSession(undefined);
      render();
    });
    replace(account,
      h("span", { class: `badge ${session.wallet === "dev" ? "badge-warn" : ""}`, title: session.wallet === "dev" ? "Local dev wallet (development only)" : "Browser wallet" }, session.wallet === "dev" ? "dev wallet" : "wallet"),
      h("code", { class: "address", title: session.address, "data-testid": "account-address" }, shortHex(session.address)),
      signOut);
  }

  function render() {
    current?.abort();
    current = new AbortController();
    const signal = current.signal;
    const route = parseRoute(location.hash);
    document.title = "Datanets · Model Factory";
    const section = sectionOf(route);
    for (const link of navLinks) {
      if (link.dataset.section === section) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    renderAccount();
    if (route.name === "sign-in") {
      const next = route.next || "#/";
      if (session) return void location.replace(next);
      return show(signInView(ctx, signal, () => { location.hash = next; }));
    }
    // Browsing needs no account; creating, training and earning do: sign in first, then the page.
    if (!session && needsAccount(route)) return show(signInView(ctx, signal, render, { reason: signInReason(route) }));
    // Each page's code is its own chunk, fetched when the page is first opened (web/build.ts).
    const pending = viewFor(route, signal);
    if (pending instanceof HTMLElement) return show(pending);
    const slow = setTimeout(() => { if (!signal.aborted) replace(main, loading()); }, 150);
    pending.then(
      (view) => { if (!signal.aborted) show(view); },
      (err: unknown) => { if (!isAbort(err, signal)) show(h("section", {}, h("h1", {}, "This page did not load"), errorBox(err), h("p", {}, h("a", { href: location.hash || "#/" }, "Try again")))); },
    ).finally(() => clearTimeout(slow));
  }

  function show(view: HTMLElement) {
    replace(main, view);
    window.scrollTo(0, 0);
  }

  function viewFor(route: Route, signal: AbortSignal): HTMLElement | Promise<HTMLElement> {
    switch (route.name) {
      case "list":
        // A visitor's front page: what the product is and how to sign in, above the public Datanets.
        return import("./views/datanet-list.ts").then((m) => session
          ? m.datanetListView(ctx, signal, route)
          : h("div", { class: "front-page" }, signInView(ctx, signal, render), m.datanetListView(ctx, signal, route)));
      case "create":
        return import("./views/datanet-create.ts").then((m) => m.datanetCreateView(ctx, signal));
      case "datanet":
        return import("./views/datanet-page.ts").then((m) => m.datanetPageView(ctx, signal, route.id));
      case "new-job":
        document.title = "New fine-tune · Model Factory";
        return import("./views/fine-tune-form.ts").then((m) => m.fineTuneFormView(ctx, signal, route));
      case "jobs":
        document.title = "Jobs · Model Factory";
        return import("./views/job-list.ts").then((m) => m.jobListView(ctx, signal));
      case "job":
        return import("./views/job-page.ts").then((m) => m.jobPageView(ctx, signal, route.id));
      case "adapters":
        document.title = "Adapters · Model Factory";
        return import("./views/adapter-list.ts").then((m) => m.adapterListView(ctx, signal, route));
      case "adapter":
        return import("./views/adapter-page.ts").then((m) => m.adapterPageView(ctx, signal, route.id));
      case "earnings":
        document.title = "Earnings · Model Factory";
        return import("./views/earnings-page.ts").then((m) => m.earningsPageView(ctx, signal));
      case "sign-in":
        return h("section", {});
      case "not-found":
        return h("section", {}, h("h1", {}, "Not found"), h("p", {}, "No page at ", h("code", {}, route.path), ". ", h("a", { href: "#/" }, "Go to Datanets")));
    }
  }

  window.addEventListener("hashchange", render);
  renderAccount();
  render();
}

/** Routes that act for an account (a visitor is asked to sign in first). */
function needsAccount(route: Route): boolean {
  return route.name === "create" || route.name === "new-job" || route.name === "jobs" || route.name === "earnings";
}

/** Why the sign-in page is shown instead of the page asked for. */
function signInReason(route: Route): string {
  switch (route.name) {
    case "create":
      return "Sign in to create a Datanet.";
    case "new-job":
      return "Sign in to start a fine-tune.";
    case "jobs":
      return "Sign in to see your jobs.";
    case "earnings":
      return "Sign in to see your earnings and claim them.";
    default:
      return "Sign in to continue.";
  }
}

/** The header section a route belongs to. */
function sectionOf(route: Route): "datanets" | "jobs" | "adapters" | "earnings" | undefined {
  switch (route.name) {
    case "earnings":
      return "earnings";
    case "sign-in":
      return undefined;
    case "list":
    case "create":
    case "datanet":
      return "datanets";
    case "new-job":
    case "jobs":
    case "job":
      return "jobs";
    case "adapters":
    case "adapter":
      return "adapters";
    case "not-found":
      return undefined;
  }
}

start();
