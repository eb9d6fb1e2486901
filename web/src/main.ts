import { ApiClient } from "./api-client.ts";
import type { AppContext } from "./app-context.ts";
import { loadSession, saveSession, type Session } from "./auth/session.ts";
import { h, replace } from "./dom.ts";
import { shortHex } from "./format.ts";
import { parseRoute, routeHref, type Route } from "./router.ts";
import { datanetCreateView } from "./views/datanet-create.ts";
import { datanetListView } from "./views/datanet-list.ts";
import { datanetPageView } from "./views/datanet-page.ts";
import { adapterListView } from "./views/adapter-list.ts";
import { adapterPageView } from "./views/adapter-page.ts";
import { fineTuneFormView } from "./views/fine-tune-form.ts";
import { jobListView } from "./views/job-list.ts";
import { jobPageView } from "./views/job-page.ts";
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
  const sections = [
    ["datanets", "Datanets", "#/"],
    ["jobs", "Jobs", "#/jobs"],
    ["adapters", "Adapters", "#/adapters"],
  ] as const;
  const navLinks = sections.map(([key, label, href]) => h("a", { href, "data-section": key }, label));
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
    nav.hidden = !session;
    if (!session) return replace(account);
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
    let view: HTMLElement;
    if (!session) {
      view = signInView(ctx, signal, render);
    } else {
      switch (route.name) {
        case "list":
          view = datanetListView(ctx, signal, route);
          break;
        case "create":
          view = datanetCreateView(ctx, signal);
          break;
        case "datanet":
          view = datanetPageView(ctx, signal, route.id);
          break;
        case "new-job":
          document.title = "New fine-tune · Model Factory";
          view = fineTuneFormView(ctx, signal, route);
          break;
        case "jobs":
          document.title = "Jobs · Model Factory";
          view = jobListView(ctx, signal);
          break;
        case "job":
          view = jobPageView(ctx, signal, route.id);
          break;
        case "adapters":
          document.title = "Adapters · Model Factory";
          view = adapterListView(ctx, signal, route);
          break;
        case "adapter":
          view = adapterPageView(ctx, signal, route.id);
          break;
        case "not-found":
          view = h("section", {}, h("h1", {}, "Not found"), h("p", {}, "No page at ", h("code", {}, route.path), ". ", h("a", { href: "#/" }, "Go to Datanets")));
          break;
      }
    }
    replace(main, view);
    window.scrollTo(0, 0);
  }

  window.addEventListener("hashchange", render);
  renderAccount();
  render();
}

/** The header section a route belongs to. */
function sectionOf(route: Route): "datanets" | "jobs" | "adapters" | undefined {
  switch (route.name) {
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
