import type { IncomingMessage } from "node:http";

/**
 * The token a request carries: `Authorization: Bearer <token>`, Judge0's
 * `X-Auth-Token: <token>`, or HTTP Basic with the token as the password (or as
 * the user name when there is no password) — the last lets clients that only
 * take a base URL, like Piston's, send it as http://token@host/.
 */
export function requestToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const [scheme, value = ""] = auth.split(/\s+/, 2);
    if (/^bearer$/i.test(scheme ?? "")) return value.trim() || undefined;
    if (/^basic$/i.test(scheme ?? "")) {
      const decoded = Buffer.from(value, "base64").toString("utf8");
      const i = decoded.indexOf(":");
      const user = i < 0 ? decoded : decoded.slice(0, i);
      const pass = i < 0 ? "" : decoded.slice(i + 1);
      return pass || user || undefined;
    }
  }
  const header = req.headers["x-auth-token"];
  const token = Array.isArray(header) ? header[0] : header;
  return token?.trim() || undefined;
}
