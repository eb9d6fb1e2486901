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

export interface SignInOptions {
  /** Why sign-in is asked for (the page a visitor wanted); without one the page opens with what the product is. */
  reason?: string;
}

export function signInView(ctx: AppContext, _signal: AbortSignal, onSignedIn: () => void, options: SignInOptions = {}): HTMLElement {
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

  // What the product is, in one screen, above the sign-in: a visitor sees it before being asked for a wallet.
  const step = (title: string, text: string) => h("article", { class: "card landing-step" }, h("h3", {}, title), h("p", {}, text));
  const intro = h("section", { class: "landing", "aria-labelledby": "landing-title" },
    h("h1", { id: "landing-title" }, "Model Factory & OpenLoRA"),
    h("p", { class: "lead" }, "Pool data with provable provenance, fine-tune LoRA adapters on it without writing code, and serve them pay-per-call: every call pays the contributors whose data shaped the answer, settled on chain."),
    h("div", { class: "cards three" },
      step("1 · Datanets", "Upload JSONL, CSV or text. Every accepted record keeps its contributor, license and content hash; versions freeze them under a Merkle root published on chain."),
      step("2 · Fine-tune", "Pick Datanet versions and a base model; training, held-out evaluation and the adapter's attribution fingerprint run in the background, with a live loss curve."),
      step("3 · Serve and earn", "Adapters are served over an OpenAI-compatible API and priced per call; fees are split by attribution between the adapter's owner and the data's contributors.")));

  const reason = options.reason
    ? h("div", { class: "alert alert-info", role: "status", "data-testid": "sign-in-reason" }, options.reason, " Browsing Datanets and adapters needs no account.")
    : null;
  return h("div", { class: "sign-in-page" }, reason ? null : intro, h("section", { class: "sign-in", "aria-labelledby": "sign-in-title" },
    h(reason ? "h1" : "h2", { id: "sign-in-title" }, "Sign in"),
    reason,
    h("p", { class: "lead" }, "Sign a Sign-In with Ethereum message to get an API key for this browser session. Signing costs nothing and sends no transaction."),
    h("div", { class: "cards two" },
      h("article", { class: "card" },
        h("h3", {}, "Browser wallet"),
        h("p", {}, "MetaMask, Rabby or any EIP-1193 wallet in this browser."),
        hasBrowserWallet() ? null : h("p", { class: "muted" }, "No browser wallet detected."),
        browserButton),
      h("article", { class: "card card-dev" },
        h("h3", {}, "Local dev wallet ", h("span", { class: "badge badge-warn" }, "development only")),
        h("p", {}, "A throw-away key generated in this browser and kept unencrypted in localStorage. A convenience for the local deployment: never use it for anything of value."),
        existing ? devAddress : null,
        h("div", { class: "row" }, devButton, existingWallet ? resetButton : null))),
    status));
}
