// npm run docs:config: writes docs/configuration.md from src/config (see config-reference.ts).
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigReference } from '../src/config/config-reference';

const target = join(__dirname, '..', 'docs', 'configuration.md');
writeFileSync(target, renderConfigReference());
process.stdout.write(`wrote ${target}\n`);
