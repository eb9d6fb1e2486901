// The OpenAI routes of the inference service on the platform's own origin (local runtime): each
// request is passed to the service's port with its headers and body, and the response body is
// piped back as it arrives, so a stream stays a stream. The service does its own
// authorization (API key or payment), so these paths are public at the platform. When the
// service is not running, or dies mid-call, the client gets an error in OpenAI's shape (a 503,
// or a last `data: {"error": …}` event on a stream that had started), never a hang.
import type { Env, Hono } from "hono";

export interface OpenAIProxyOptions {
  /** The service's origin now, or null while it is (re)starting. */
  target: () => string | null;
}

/** Paths the proxy serves; the platform lists them as public (the service authorizes). */
export const OPENAI_PROXY_PATHS = ["/v1/models", "/v1/chat/completions", "/v1/completions"] as const;

// request headers worth forwarding: auth, payment (x402 v2 and v1), content negotiation, tracing
const FORWARD = /^(authorization|content-type|accept|payment-signature|x-payment|x-request-id|traceparent|openai-organization|openai-project)$/i;
// hop-by-hop and length headers: the platform's server sets its own
const DROP = /^(connection|keep-alive|transfer-encoding|content-length|content-encoding)$/i;

const unavailableBody = (message: string) => JSON.stringify({ error: { message, type: "server_error", param: null, code: "service_unavailable" } });

/** Mounts the proxy on an app (the platform's hono app). */
export function openaiProxyRoutes<E extends Env>(app: Hono<E>, options: OpenAIProxyOptions): void {
  const handler = async (c: { req: { raw: Request } }) => proxy(c.req.raw, options);
  app.on(["GET"], ["/v1/models", "/v1/models/*", "/metrics"], handler);
  app.on(["POST"], ["/v1/chat/completions", "/v1/completions"], handler);
}

async function proxy(request: Request, options: OpenAIProxyOptions): Promise<Response> {
  const target = options.target();
  if (!target) return new Response(unavailableBody("The inference service is starting; try again shortly."), { status: 503, headers: { "content-type": "application/json", "retry-after": "2" } });
  const url = new URL(request.url);
  const headers = new Headers();
  for (const [k, v] of request.headers) if (FORWARD.test(k)) headers.set(k, v);
  let upstream: Response;
  try {
    upstream = await fetch(`${target}${url.pathname}${url.search}`, {
      method: request.method,
      headers,
      ...(request.method === "POST" ? { body: request.body, duplex: "half" } : {}),
      // the client leaving ends the upstream call too: the service frees the sequence
      signal: request.signal,
      redirect: "manual",
    } as RequestInit);
  } catch {
    return new Response(unavailableBody("The inference service is not reachable (it may be restarting); try again shortly."), { status: 503, headers: { "content-type": "application/json", "retry-after": "2" } });
  }
  const out = new Headers();
  for (const [k, v] of upstream.headers) if (!DROP.test(k)) out.set(k, v);
  const sse = (upstream.headers.get("content-type") ?? "").startsWith("text/event-stream");
  if (!upstream.body) return new Response(null, { status: upstream.status, headers: out });
  return new Response(passThrough(upstream.body, sse), { status: upstream.status, headers: out });
}

// chunks go out as they come; a broken upstream ends an event stream with an error event
function passThrough(body: ReadableStream<Uint8Array>, sse: boolean): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch {
        if (sse) {
          controller.enqueue(new TextEncoder().encode(`data: ${JSON.stringify({ error: { message: "The inference service stopped during this call; no more output will come.", type: "server_error", param: null, code: "service_unavailable" } })}\n\n`));
          controller.close();
        } else controller.error(new Error("the inference service stopped during this call"));
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
