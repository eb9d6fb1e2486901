import { describe, expect, it } from "vitest";
import { checkWebhookUrl, isPrivateAddress } from "./url-policy.ts";

describe("isPrivateAddress", () => {
  it.each([
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "::1", "::", "fe80::1", "fe80::1%eth0", "fd00::1", "::ffff:127.0.0.1", "::ffff:7f00:1", "0:0:0:0:0:ffff:a9fe:a9fe",
    "64:ff9b::a00:1", "not-an-ip",
    // IPv4-compatible (::/96): deprecated, and ::127.0.0.1 is loopback in disguise.
    "::127.0.0.1", "::7f00:1", "::a9fe:a9fe", "::8.8.8.8", "0:0:0:0:0:0:0:2",
    // 6to4 (2002::/16) tunnelling to a private IPv4 address.
    "2002:7f00:1::", "2002:a9fe:a9fe::1", "2002:0a00:0005:1::1", "2002:c0a8:101::",
    // IPv4-mapped (::ffff:0:0/96) of private addresses, dotted and hex, compressed or not.
    "::ffff:10.0.0.1", "::ffff:a00:1", "::FFFF:C0A8:0101", "0:0:0:0:0:ffff:127.0.0.1", "::ffff:0.0.0.0", "::ffff:0:0",
    // IPv4-translated (::ffff:0:0:0/96, RFC 2765) — the review's https://[::ffff:0:7f00:1]/.
    "::ffff:0:7f00:1", "::ffff:0:127.0.0.1", "0:0:0:0:ffff:0:a9fe:a9fe", "::ffff:0:169.254.169.254", "::ffff:0:10.1.2.3", "::ffff:0:0:0",
    // IPv4-compatible (::/96) in dotted form.
    "::0.0.0.1", "::10.0.0.1", "0:0:0:0:0:0:192.168.1.1",
    // NAT64 (64:ff9b::/96 well-known, 64:ff9b:1::/48 local use), hex and dotted, private or not.
    "64:ff9b::7f00:1", "64:ff9b::127.0.0.1", "64:ff9b::10.0.0.1", "64:ff9b::8.8.8.8", "64:ff9b:0:0:0:0:a9fe:a9fe", "64:ff9b:1::a00:1",
    // Teredo and other IETF protocol ranges, documentation, SRv6.
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:2::1", "3fff::1", "5f00::1",
  ])("refuses %s", (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each([
    "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "::ffff:808:808", "::ffff:0:8.8.8.8", "2002:808:808::1",
    "2a00:1450:4001:81c::200e", "::1:0:0:1", "2001:4860:4860::8888", "64:ff9c::7f00:1",
  ])("allows %s", (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });
});

describe("checkWebhookUrl", () => {
  const publicDns = async () => ["93.184.216.34"];
  const privateDns = async () => ["93.184.216.34", "10.0.0.5"];

  it("accepts a public https URL", async () => {
    await expect(checkWebhookUrl("https://hooks.example.com/x", { allowPrivate: false, resolve: publicDns })).resolves.toBeInstanceOf(URL);
  });

  it.each([
    ["http://hooks.example.com/x", "https"],
    ["https://127.0.0.1/x", "private"],
    ["https://[::1]:8443/x", "private"],
    ["https://[::127.0.0.1]/x", "private"],
    ["https://[2002:7f00:1::]/x", "private"],
    ["https://[::ffff:0:7f00:1]/", "private"],
    ["https://[::ffff:0:127.0.0.1]/", "private"],
    ["https://[::ffff:127.0.0.1]/", "private"],
    ["https://[::ffff:a9fe:a9fe]/latest/meta-data", "private"],
    ["https://[64:ff9b::10.0.0.1]/", "private"],
    ["https://[64:ff9b::a00:1]/", "private"],
    // WHATWG URL reads these IPv4 spellings as 127.0.0.1.
    ["https://2130706433/", "private"],
    ["https://0x7f.0.0.1/", "private"],
    ["https://0177.0.0.1/", "private"],
    ["https://user:pw@hooks.example.com/", "credentials"],
    ["ftp://hooks.example.com/", "https"],
  ])("refuses %s in the cloud", async (url, why) => {
    await expect(checkWebhookUrl(url, { allowPrivate: false, resolve: publicDns })).rejects.toMatchObject({
      code: "unsafe-webhook-url",
      status: 400,
      message: expect.stringContaining(why),
    });
  });

  it("refuses a name with any private address, and one that does not resolve", async () => {
    await expect(checkWebhookUrl("https://internal.example/", { allowPrivate: false, resolve: privateDns })).rejects.toMatchObject({ code: "unsafe-webhook-url" });
    const nx = async () => { throw new Error("ENOTFOUND"); };
    await expect(checkWebhookUrl("https://nx.example/", { allowPrivate: false, resolve: nx })).rejects.toMatchObject({ code: "unsafe-webhook-url" });
  });

  it("allows http and loopback when private URLs are allowed (local deployment)", async () => {
    await expect(checkWebhookUrl("http://127.0.0.1:9000/hook", { allowPrivate: true })).resolves.toBeInstanceOf(URL);
  });
});
