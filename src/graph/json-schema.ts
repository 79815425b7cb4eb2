/**
 * The JSON Schema of graph files for editors (schemas/graph.schema.json), generated from the
 * same schemas the validator uses, so the two cannot disagree. Per node type, `if type is X
 * then options are X's` gives completion and hover docs in YAML-aware editors.
 */
import type { Registry } from '../registry.js';
import { optionsJsonSchema } from '../contract.js';
import { GraphTopSchema, NodeCommonSchema } from './compile.js';

const plain = (s: unknown): unknown => JSON.parse(JSON.stringify(s));

export function graphJsonSchema(registry: Registry): Record<string, unknown> {
  const top = plain(GraphTopSchema) as Record<string, any>;
  const common = plain(NodeCommonSchema) as Record<string, any>;
  const inputValue = {
    description: 'A producer as node.port, a list of them, or { from, queue }.',
    anyOf: [
      { type: 'string', pattern: '^[^.\\s]+\\.[^.\\s]+$' },
      { type: 'array', items: { type: 'string', pattern: '^[^.\\s]+\\.[^.\\s]+$' }, minItems: 1 },
      {
        type: 'object', additionalProperties: false, required: ['from'],
        properties: {
          from: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
          queue: {
            description: 'latest (keep only the newest), { drop_oldest: N }, { drop_newest: N }, { block: N } (producer waits).',
            anyOf: [
              { enum: ['latest', 'drop_oldest', 'drop_newest', 'block'] },
              { type: 'object', minProperties: 1, maxProperties: 1, additionalProperties: false, properties: { drop_oldest: { type: 'integer', minimum: 1 }, drop_newest: { type: 'integer', minimum: 1 }, block: { type: 'integer', minimum: 1 } } },
            ],
          },
        },
      },
    ],
  };
  common.properties.inputs = { type: 'object', description: common.properties.inputs.description, additionalProperties: inputValue };
  const types = registry.all();
  // `type` is not required here: a file that extends another may override a node's options
  // without repeating its type. The validator still insists on it for the merged graph.
  const node = {
    type: ['object', 'null'],
    properties: { ...common.properties, type: { type: 'string', enum: types.map((d) => d.type), description: 'Node type (see `graphrun nodes`).' } },
    allOf: types.map((d) => {
      const opts = optionsJsonSchema(d) as Record<string, any>;
      const inputs = Object.keys(d.inputs);
      return {
        if: { properties: { type: { const: d.type } }, required: ['type'] },
        then: {
          description: d.summary,
          properties: { ...common.properties, type: { const: d.type }, ...opts.properties, inputs: { type: 'object', additionalProperties: false, properties: Object.fromEntries(inputs.map((p) => [p, { ...inputValue, description: `${d.inputs[p].kind}: ${d.inputs[p].description}` }])) } },
          required: opts.required ?? [],
          additionalProperties: false,
        },
      };
    }),
  };
  top.properties.extends = { type: 'string', description: 'Another graph file this one overrides (deep merge; null removes a key).' };
  top.properties.nodes = { type: 'object', description: top.properties.nodes.description, propertyNames: { pattern: '^[a-z][a-z0-9_-]*$' }, additionalProperties: node };
  delete top.properties.nodes.patternProperties;
  return forEditors({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://graphrun.dev/schemas/graph.schema.json',
    title: 'graphrun graph file',
    ...top,
    required: [],
    // A file that extends another inherits version, name and nodes from it.
    if: { required: ['extends'] },
    else: { required: ['version', 'name', 'nodes'] },
  }) as Record<string, unknown>;
}

const ENV_REF = { type: 'string', pattern: '\\$\\{[^}]+\\}', description: 'An environment variable reference, ${NAME} or ${NAME:-default}.' };

/**
 * Editors see the file before interpolation and before defaults are filled in, so: an option
 * with a default is not required, a pattern also admits `${VAR}`, and a number or boolean may be
 * written as `${VAR}`.
 */
function forEditors(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(forEditors);
  if (s === null || typeof s !== 'object') return s;
  const o: Record<string, any> = {};
  for (const [k, v] of Object.entries(s)) o[k] = k === 'const' || k === 'enum' || k === 'default' ? v : forEditors(v);
  if (o.properties && Array.isArray(o.required)) o.required = o.required.filter((k: string) => o.properties[k]?.default === undefined);
  if (typeof o.pattern === 'string') o.pattern = `(?:${o.pattern})|\\$\\{`;
  if (o.type === 'number' || o.type === 'integer' || o.type === 'boolean') {
    const { description, default: dflt, ...rest } = o;
    return { description, default: dflt, anyOf: [rest, ENV_REF] };
  }
  return o;
}
