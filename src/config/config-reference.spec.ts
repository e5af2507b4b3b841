import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkConfigKeys, CONFIG_FILE, type KeySpec } from './config-keys';
import {
  REFERENCE_DOCS,
  REFERENCE_SOURCES,
  renderConfigReference,
  type ReferenceSources,
} from './config-reference';
import { parseEnvironment } from './env.schema';

const COMMITTED = join(__dirname, '..', '..', 'docs', 'configuration.md');

/** The reference's config-file rows: `| \`path\` | required | value | meaning |`. */
function documentedPaths(reference: string): string[] {
  const section = reference.slice(reference.indexOf('## Config file'));
  return [...section.matchAll(/^\| `([a-z_[\].]+)` \| (required|optional|see meaning) \|/gm)].map(
    (m) => m[1],
  );
}

/** A config file holding `path` (list entries as one-entry lists), to ask the key check about it. */
function configWith(path: string): Record<string, unknown> {
  const keys = path.split('.');
  const build = (i: number): unknown => {
    if (i === keys.length) return 'x';
    const key = keys[i].replace('[]', '');
    const value = build(i + 1);
    return { [key]: keys[i].endsWith('[]') ? [value] : value };
  };
  return build(0) as Record<string, unknown>;
}

describe(renderConfigReference.name, () => {
  const sources: ReferenceSources = REFERENCE_SOURCES;

  it('should match the committed docs/configuration.md (run `npm run docs:config` after changing src/config)', () => {
    expect(readFileSync(COMMITTED, 'utf8')).toBe(renderConfigReference());
  });

  it('should list exactly the keys the boot accepts: each documented key passes the key check, a sibling it does not list is refused', () => {
    const paths = documentedPaths(renderConfigReference());
    expect(paths).toContain('gateway.max_json_body_bytes');
    expect(paths).toContain('model_list[].litellm_params.api_base');
    for (const path of paths) {
      expect({ path, problems: checkConfigKeys(configWith(path)).problems }).toEqual({
        path,
        problems: [],
      });
      const parent = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
      if (parent.endsWith('model_info')) continue; // LiteLLM's free-form metadata
      const sibling = parent ? `${parent}.zz_not_a_key` : 'zz_not_a_key';
      expect(checkConfigKeys(configWith(sibling)).problems).toEqual([
        `${sibling.replaceAll('[]', '[0]')}: unknown key`,
      ]);
    }
  });

  it('should list every environment variable the boot reads, with its default and the rule it enforces', () => {
    const reference = renderConfigReference();
    for (const name of Object.keys(parseEnvironment({}, []))) {
      expect(reference).toContain(`| \`${name}\` |`);
    }
    expect(reference).toContain('| `DATA_DIR` | `./.data` |');
    expect(reference).toContain('| `PORT` | `4000` | an integer between 0 and 65535 | HTTP port |');
    const problems: string[] = [];
    parseEnvironment({ PORT: '65536' }, problems);
    expect(problems).toEqual(['env PORT: must be an integer between 0 and 65535 (got "65536")']);
  });

  it('should refuse to render when a variable the boot reads has no meaning', () => {
    const env = Object.fromEntries(
      Object.entries(REFERENCE_DOCS.env).filter(([name]) => name !== 'PORT'),
    );
    expect(() => renderConfigReference({ ...sources, docs: { ...REFERENCE_DOCS, env } })).toThrow(
      'env PORT: no meaning in REFERENCE_DOCS.env',
    );
  });

  it('should refuse to render prose for a key the boot no longer accepts', () => {
    const file = { ...REFERENCE_DOCS.file, 'gateway.retired_key': 'gone' };
    expect(() => renderConfigReference({ ...sources, docs: { ...REFERENCE_DOCS, file } })).toThrow(
      'gateway.retired_key: documented, but config-keys.ts does not accept it',
    );
  });

  it('should refuse a key that config-keys.ts accepts and the schema does not validate', () => {
    const gateway = CONFIG_FILE.ours.gateway as KeySpec;
    const fileKeys: KeySpec = {
      ...CONFIG_FILE,
      ours: {
        ...CONFIG_FILE.ours,
        gateway: { ...gateway, ours: { ...gateway.ours, extra: null } },
      },
    };
    const file = { ...REFERENCE_DOCS.file, 'gateway.extra': 'unvalidated' };
    expect(() =>
      renderConfigReference({ ...sources, fileKeys, docs: { ...REFERENCE_DOCS, file } }),
    ).toThrow('gateway.extra: accepted by config-keys.ts but not validated by GatewaySettings');
  });
});
