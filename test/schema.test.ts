import { readdirSync, readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { graphJsonSchema } from '../src/graph/json-schema.js';
import { defaultRegistry } from '../src/registry.js';

const published = JSON.parse(readFileSync(new URL('../schemas/graph.schema.json', import.meta.url), 'utf8'));

describe('schemas/graph.schema.json', () => {
  it('is what `graphrun schema` generates from the node registry (regenerate with: node bin/graphrun.js schema -o schemas/graph.schema.json)', () => {
    expect(published).toEqual(graphJsonSchema(defaultRegistry));
  });

  it('accepts every graph in graphs/ and rejects an unknown option, as editors will show it', () => {
    const validate = new Ajv2020({ strict: false, allErrors: true }).compile(published);
    const dir = new URL('../graphs/', import.meta.url);
    const files = readdirSync(dir).filter((f) => f.endsWith('.yml'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) {
      const ok = validate(parse(readFileSync(new URL(f, dir), 'utf8')));
      expect(ok, `${f}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    const bad = parse(readFileSync(new URL('cpu.yml', dir), 'utf8'));
    expect(validate(bad)).toBe(true);
    bad.nodes.cam.fsp = 10;
    expect(validate(bad)).toBe(false);
    delete bad.nodes.cam.fsp;
    bad.nodes.cam.max_fps = 'fast';
    expect(validate(bad)).toBe(false);
  });
});
