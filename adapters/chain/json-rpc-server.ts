import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { Eip1193Provider } from "ethers";

export interface JsonRpcServer {
  url: string;
  close(): Promise<void>;
}

const MAX_BODY = 5 * 1024 * 1024;

/**
 * Serves an in-process EIP-1193 provider (EDR) as a JSON-RPC endpoint on
 * loopback, so other processes (the inference service, a browser wallet) can
 * use the local chain by URL like any other.
 */
export async function serveJsonRpc(provider: Eip1193Provider, port = 0): Promise<JsonRpcServer> {
  const server = createServer(async (req, res) => {
    res.setHeader("access-control-allow-origin", "*");
    res.setHeader("access-control-allow-headers", "content-type");
    if (req.method === "OPTIONS") return void res.writeHead(204).end();
    if (req.method !== "POST") return void res.writeHead(405, { allow: "POST" }).end();
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return void res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify(rpcError(null, -32700, "Parse error")));
    }
    const answer = Array.isArray(body) ? await Promise.all(body.map((r) => handle(provider, r))) : await handle(provider, body);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", resolve));
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${actual}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function handle(provider: Eip1193Provider, request: unknown) {
  const r = request as { id?: unknown; method?: unknown; params?: unknown };
  const id = r && (typeof r.id === "string" || typeof r.id === "number") ? r.id : null;
  if (!r || typeof r.method !== "string") return rpcError(id, -32600, "Invalid request");
  try {
    const result = await provider.request({ method: r.method, params: Array.isArray(r.params) ? r.params : [] });
    return { jsonrpc: "2.0", id, result };
  } catch (error) {
    const e = error as { code?: unknown; message?: unknown; data?: unknown };
    return rpcError(id, typeof e.code === "number" ? e.code : -32603, String(e.message ?? error), e.data);
  }
}

function rpcError(id: unknown, code: number, message: string, data?: unknown) {
  return { jsonrpc: "2.0", id, error: { code, message, ...(data !== undefined ? { data } : {}) } };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
