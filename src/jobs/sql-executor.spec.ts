import type { DataSource, QueryRunner } from 'typeorm';
import { SqlExecutor } from './sql-executor';

/** A query runner that answers from `answer` and records what it was asked. */
function fakeRunner(answer: (text: string) => unknown): QueryRunner & {
  readonly asked: string[];
  released: number;
} {
  const runner = {
    asked: [] as string[],
    released: 0,
    query: jest.fn((text: string) => {
      runner.asked.push(text);
      return Promise.resolve().then(() => answer(text));
    }),
    release: jest.fn(() => {
      runner.released++;
      return Promise.resolve();
    }),
  };
  return runner as unknown as QueryRunner & { readonly asked: string[]; released: number };
}

function dataSourceWith(runner: QueryRunner): DataSource {
  return { createQueryRunner: () => runner } as unknown as DataSource;
}

describe(SqlExecutor.name, () => {
  it('should answer the rows of a statement and give the connection back', async () => {
    const runner = fakeRunner(() => ({ records: [{ id: 'a' }] }));
    const executor = new SqlExecutor(dataSourceWith(runner));

    await expect(executor.executeSql('SELECT $1::text AS id', ['a'])).resolves.toEqual({
      rows: [{ id: 'a' }],
    });
    expect(runner.released).toBe(1);
  });

  it('should answer no rows for a multi-statement command, which has no records', async () => {
    const runner = fakeRunner(() => ({ records: undefined }));
    const executor = new SqlExecutor(dataSourceWith(runner));

    await expect(executor.executeSql('BEGIN; SELECT 1; COMMIT;')).resolves.toEqual({ rows: [] });
  });

  it('should roll back a failed parameterless command before giving its connection back (a failed BEGIN…COMMIT string leaves the session in the failed transaction)', async () => {
    const runner = fakeRunner((text) => {
      if (text.startsWith('BEGIN')) throw new Error('type "job_state" already exists');
      return { records: [] };
    });
    const executor = new SqlExecutor(dataSourceWith(runner));

    await expect(executor.executeSql('BEGIN; CREATE TYPE x; COMMIT;')).rejects.toThrow(
      'already exists',
    );
    expect(runner.asked).toEqual(['BEGIN; CREATE TYPE x; COMMIT;', 'ROLLBACK']);
    expect(runner.released).toBe(1);
  });

  it('should not roll back a failed statement with parameters: it ran in a transaction of its own', async () => {
    const runner = fakeRunner(() => {
      throw new Error('duplicate key value violates unique constraint "job_i3"');
    });
    const executor = new SqlExecutor(dataSourceWith(runner));

    await expect(executor.executeSql('UPDATE pgboss.job SET x = $1', [1])).rejects.toThrow(
      'duplicate key',
    );
    expect(runner.asked).toEqual(['UPDATE pgboss.job SET x = $1']);
  });

  it("should send through a caller's transaction without releasing or rolling it back", async () => {
    const pooled = fakeRunner(() => ({ records: [] }));
    const transaction = fakeRunner(() => {
      throw new Error('boom');
    });
    const executor = new SqlExecutor(dataSourceWith(pooled)).within(transaction);

    await expect(executor.executeSql('SELECT 1')).rejects.toThrow('boom');
    expect(transaction.asked).toEqual(['SELECT 1']);
    expect(transaction.released).toBe(0);
    expect(pooled.asked).toEqual([]);
  });

  it('should become idle only once a statement chained on a finished one has ended too', async () => {
    const runner = fakeRunner(() => ({ records: [] }));
    const executor = new SqlExecutor(dataSourceWith(runner));
    const order: string[] = [];

    // pg-boss chains statements: the second starts in a microtask after the first ends.
    void executor
      .executeSql('SELECT 1')
      .then(() => executor.executeSql('SELECT 2'))
      .then(() => order.push('chain ended'));
    await executor.idle();
    order.push('idle');

    expect(order).toEqual(['chain ended', 'idle']);
    expect(runner.asked).toEqual(['SELECT 1', 'SELECT 2']);
  });
});
