// The DataSource the TypeORM CLI uses (npm run migration:run | migration:generate | migration:check).
// It reads the same environment as the service: DATABASE_URL, or the embedded database in DATA_DIR.
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { databaseConfigFromEnv } from './src/config/database-config';
import { buildDataSourceOptions } from './src/database/data-source-options';

export default buildDataSourceOptions(databaseConfigFromEnv(process.env)).then(
  ({ options }) => new DataSource(options),
);
