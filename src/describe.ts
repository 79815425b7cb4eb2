/** `graphrun nodes [TYPE]`: node types with ports and options, from their schemas. */
import { optionsJsonSchema, type AnyNodeDefinition } from './contract.js';
import { policyText } from './graph/compile.js';
import { didYouMean } from './graph/diagnostics.js';
import type { Registry } from './registry.js';

export function describeNodes(registry: Registry, type?: string): { ok: boolean; text: string } {
  if (!type) {
    const w = Math.max(...registry.types().map((t) => t.length));
    const lines = registry.all().map((d) => `  ${d.type.padEnd(w)}  ${d.summary}`);
    return { ok: true, text: `Node types (graphrun nodes TYPE for ports and options):\n${lines.join('\n')}\n` };
  }
  const def = registry.get(type);
  if (!def) return { ok: false, text: `unknown node type "${type}"${didYouMean(type, registry.types())} (known: ${registry.types().join(', ')})\n` };
  return { ok: true, text: describeOne(def) };
}

function describeOne(d: AnyNodeDefinition): string {
  const out: string[] = [`${d.type} — ${d.summary}`, ''];
  const ports = (title: string, ps: AnyNodeDefinition['inputs'], input: boolean) => {
    out.push(`${title}:`);
    const names = Object.keys(ps);
    if (names.length === 0) out.push('  (none)');
    for (const n of names) {
      const p = ps[n];
      const extra = input ? `, default queue ${policyText(p.defaultQueue ?? { mode: 'latest' })}${p.required === false ? ', optional' : ''}` : '';
      out.push(`  ${n} (${p.kind}${extra}): ${p.description}`);
    }
  };
  ports('Inputs', d.inputs, true);
  ports('Outputs', d.outputs, false);
  out.push('Options:');
  const schema = optionsJsonSchema(d);
  const props = (schema.properties ?? {}) as Record<string, { description?: string; default?: unknown; type?: string; anyOf?: { const?: unknown }[]; minimum?: number; maximum?: number }>;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  for (const [k, s] of Object.entries(props)) {
    const t = s.anyOf ? s.anyOf.map((x) => JSON.stringify(x.const)).join(' | ') : s.type ?? 'any';
    const range = s.minimum !== undefined || s.maximum !== undefined ? ` [${s.minimum ?? ''}..${s.maximum ?? ''}]` : '';
    const dflt = required.has(k) ? 'required' : `default ${JSON.stringify(s.default)}`;
    out.push(`  ${k}: ${t}${range}, ${dflt}\n      ${s.description ?? ''}`);
  }
  out.push(`Can pause for block edges: ${d.canPause ? 'yes' : 'no'}`);
  return out.join('\n') + '\n';
}
