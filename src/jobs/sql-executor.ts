import { setImmediate as nextMacrotask } from 'node:timers/promises';
import type PgBoss from 'pg-boss';
import type { DataSource, QueryRunner } from 'typeorm';

/**
 * pg-boss's `db` option over the app's TypeORM DataSource, so the job engine shares the app's
 * pool instead of opening its own: on the embedded database there is only one session (PGlite),
 * and a second pool could not reach it at all.
 */
export class SqlExecutor implements PgBoss.Db {
  private inFlight = 0;
  private readonly waiters: Array<() => void> = [];

  /**
   * `runner`: a transaction's query runner, to enqueue inside that transaction; by default each
   * statement borrows a connection from the pool and gives it back.
   */
  constructor(
    private readonly dataSource: DataSource,
    private readonly runner: QueryRunner | null = null,
  ) {}

  /** One executor per transaction: statements go through its query runner. */
  within(runner: QueryRunner): SqlExecutor {
    return new SqlExecutor(this.dataSource, runner);
  }

  async executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> {
    this.inFlight++;
    const runner = this.runner ?? this.dataSource.createQueryRunner();
    try {
      const result = await runner.query(text, values, true);
      // A multi-statement command (pg-boss's schema creation and maintenance) answers no rows.
      return { rows: (result.records as unknown[] | undefined) ?? [] };
    } catch (error) {
      if (this.runner === null && values === undefined) await rollBack(runner);
      throw error;
    } finally {
      if (this.runner === null) await runner.release();
      this.inFlight--;
      if (this.inFlight === 0) this.waiters.splice(0).forEach((wake) => wake());
    }
  }

  /**
   * Resolves once no statement has been in flight for a whole turn of the event loop: a
   * statement that finishes may start another (pg-boss chains them), and closing the pool under
   * it would log errors at shutdown.
   */
  async idle(): Promise<void> {
    for (;;) {
      if (this.inFlight > 0) await new Promise<void>((wake) => this.waiters.push(wake));
      await nextMacrotask();
      if (this.inFlight === 0) return;
    }
  }
}

/**
 * pg-boss sends its schema creation and maintenance as one parameterless string:
 * `BEGIN; SET LOCAL …; SELECT pg_advisory_xact_lock(…); …; COMMIT;`. When a statement in it
 * fails (two replicas creating the schema at once: "already exists", which pg-boss expects and
 * ignores), PostgreSQL skips the rest, COMMIT included, and leaves the session inside the
 * failed transaction. pg-boss's own pool would discard that connection; TypeORM gives it back,
 * and every later query on it fails with "current transaction is aborted" — on the embedded
 * database, the one connection the whole app has. Outside a transaction ROLLBACK only warns.
 * A statement with parameters cannot hold several commands, so it needs none.
 */
async function rollBack(runner: QueryRunner): Promise<void> {
  await runner.query('ROLLBACK').catch(() => undefined);
}
