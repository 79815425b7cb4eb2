/**
 * Secret scrubbing for every string that leaves the process: logs, status snapshots, metrics
 * labels, error texts. Two nets: patterns (passwords in URLs, token-like query parameters,
 * bearer headers) and the exact values of environment variables a graph interpolated whose
 * names look secret (…TOKEN, …PASSWORD, …SECRET, …KEY, …CREDENTIALS).
 */
const secrets = new Set<string>();
const SECRET_NAME = /(TOKEN|PASSWORD|PASSWD|SECRET|_KEY|CREDENTIAL|AUTH)/i;

/** Remember a value that must never be shown (ignored when too short to be a real secret). */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

/** Register an environment variable's value when its name says it is a secret. */
export function registerEnvSecret(name: string, value: string | undefined): void {
  if (SECRET_NAME.test(name)) registerSecret(value);
}

const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)([^\s:@/?#]*):([^\s@/?#]*)@/gi;
const QUERY_SECRET = /([?&](?:token|access_token|password|passwd|pwd|secret|api_key|apikey|key|sig|signature)=)[^&\s#"']*/gi;
const BEARER = /(bearer\s+)[A-Za-z0-9._~+/=-]+/gi;

export function redactSecrets(text: string): string {
  if (text.length === 0) return text;
  let out = text;
  if (out.includes('://')) out = out.replace(URL_USERINFO, (_m, scheme, user) => `${scheme}${user}:***@`);
  if (out.includes('=')) out = out.replace(QUERY_SECRET, '$1***');
  if (/bearer/i.test(out)) out = out.replace(BEARER, '$1***');
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('***');
  return out;
}

/** Deep copy of a JSON-like value with every string scrubbed; keys named like secrets masked. */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) return { type: value.name, message: redactSecrets(value.message), stack: value.stack && redactSecrets(value.stack) };
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `<${value.byteLength} bytes>`;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = /^(token|password|passwd|secret|authorization|api_key)$/i.test(k) && typeof v === 'string' && v !== '' ? '***' : redactDeep(v, depth + 1);
  }
  return out;
}
