import { packagesLoaded } from '../common/testing/packages-loaded';

describe('the embedded database: what a gateway on DATABASE_URL loads', () => {
  it('should not load PGlite until the embedded database is opened', () => {
    const loaded = packagesLoaded(`
      require('reflect-metadata');
      require('./src/database/database.module');
      require('./src/database/data-source-options');
    `);
    expect(loaded).toContain('typeorm');
    expect(loaded).not.toContain('@electric-sql/pglite');
  }, 30_000);
});
