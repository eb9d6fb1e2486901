/** Sign-in with Ethereum and API keys: the public face of core/auth. */
export { issueNonce } from "./nonces.ts";
export { signIn, SignInInput, SignInResult } from "./sign-in.ts";
export { ApiKeyInfo, authenticate, createApiKey, CreateApiKeyInput, hashApiKey, listApiKeys, revokeApiKey } from "./api-keys.ts";
