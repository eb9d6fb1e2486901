/** Sign-in with Ethereum and API keys: the public face of core/auth. */
export { issueNonce } from "./nonces.ts";
export { signIn, SignInInput, SignInResult } from "./sign-in.ts";
export { authenticate, hashApiKey } from "./api-keys.ts";
