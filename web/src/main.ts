import { ApiClient } from "./api-client.ts";
import type { AppContext } from "./app-context.ts";
import { loadSession, saveSession, type Session } from "./auth/session.ts";
import { h, replace } from "./dom.ts";
import { shortHex } from "./format.ts";
import { parseRoute, routeHref, type Route } from "./router.ts";
import { datanetCreateView } from "./views/datanet-create.ts";
import { datanetListView } from "./views/datanet-list.ts";
import { datanetPageView } from "./views/datanet-page.ts";
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
  const main = h("main", { id: "main", tabindex: -1 });
  const shell = h("div", { class: "shell" },
    h("a", { class: "skip-link", href: "#main", onclick: (e: Event) => { e.preventDefault(); main.focus(); } }, "Skip to content"),
    h("header", { class: "topbar" },
      h("a", { class: "brand", href: "#/" }, h("span", { class: "logo", "aria-hidden": "true" }, "◆"), "Model Factory", h("span", { class: "muted" }, " · Datanets")),
      account),
    main);
  document.body.append(shell);

  function renderAccount() {
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

start();
