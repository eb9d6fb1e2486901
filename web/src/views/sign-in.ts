import type { AppContext } from "../app-context.ts";
import { signInWithEthereum } from "../auth/session.ts";
import { existingDevWallet, hasBrowserWallet, resetDevWallet } from "../auth/wallet-presence.ts";
import type { MessageSigner } from "../auth/wallets.ts";
import { h, replace } from "../dom.ts";
import { shortHex } from "../format.ts";
import { errorBox } from "./common.ts";

/**
 * The sign-in page: a browser wallet when one is injected, and the local dev
 * wallet. ethers (in auth/wallets.ts) loads on the first click, not with the page.
 */
const wallets = () => import("../auth/wallets.ts");

export function signInView(ctx: AppContext, _signal: AbortSignal, onSignedIn: () => void): HTMLElement {
  const status = h("div", { "aria-live": "polite" });

  async function run(button: HTMLButtonElement, getSigner: () => Promise<MessageSigner> | MessageSigner) {
    const label = button.textContent;
    button.disabled = true;
    button.textContent = "Waiting for signature…";
    replace(status);
    try {
      const signer = await getSigner();
      ctx.setSession(await signInWithEthereum(ctx.api, signer, ctx.origin));
      onSignedIn();
    } catch (err) {
      replace(status, errorBox(err));
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  }

  const browserButton = h("button", { type: "button", class: "button primary", disabled: !hasBrowserWallet() }, "Connect browser wallet");
  browserButton.addEventListener("click", () => void run(browserButton, async () => (await wallets()).connectBrowserWallet()));

  const existingWallet = existingDevWallet();
  const existing = existingWallet?.address;
  const devButton = h("button", { type: "button", class: "button", "data-testid": "dev-wallet-sign-in" },
    existingWallet ? "Sign in with dev wallet" : "Create dev wallet & sign in");
  devButton.addEventListener("click", () => void run(devButton, async () => (await wallets()).devWallet()));
  const resetButton = h("button", { type: "button", class: "link-button" }, "Forget this dev wallet");
  resetButton.addEventListener("click", () => {
    if (!confirm("Forget the dev wallet's key? Its account and anything it owns become unreachable from this browser.")) return;
    resetDevWallet();
    devButton.textContent = "Create dev wallet & sign in";
    resetButton.remove();
    devAddress.remove();
  });
  const devAddress = h("p", { class: "muted" }, "Account ", h("code", { title: existing ?? "" }, existing ? shortHex(existing) : ""));

  return h("section", { class: "sign-in", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in"),
    h("p", { class: "lead" }, "Sign a Sign-In with Ethereum message to get an API key for this browser session. Signing costs nothing and sends no transaction."),
    h("div", { class: "cards two" },
      h("article", { class: "card" },
        h("h2", {}, "Browser wallet"),
        h("p", {}, "MetaMask, Rabby or any EIP-1193 wallet in this browser."),
        hasBrowserWallet() ? null : h("p", { class: "muted" }, "No browser wallet detected."),
        browserButton),
      h("article", { class: "card card-dev" },
        h("h2", {}, "Local dev wallet ", h("span", { class: "badge badge-warn" }, "development only")),
        h("p", {}, "A throw-away key generated in this browser and kept unencrypted in localStorage. A convenience for the local deployment: never use it for anything of value."),
        existing ? devAddress : null,
        h("div", { class: "row" }, devButton, existingWallet ? resetButton : null))),
    status);
}
