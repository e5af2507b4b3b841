import type { Caller } from './caller';

/** What an owned object records about its owner. */
export interface Owner {
  readonly userId: string;
  readonly teamId: string | null;
}

/** A table's owner columns, as SQL expressions (`f.owner_user_id`). */
export interface OwnerColumns {
  readonly userId: string;
  readonly teamId: string;
}

/** Binds a value and returns its placeholder (`$3`). */
export type BindParam = (value: unknown) => string;

/**
 * The one ownership rule: the owner, members of the owner's team, and admins may use an object;
 * nobody else. `canAccess` applies it to one loaded object, `visibleBranchesSql` (and the two
 * built on it) to queries, so a list never shows what a retrieve would refuse.
 */
export function canAccess(caller: Caller, owner: Owner): boolean {
  return (
    caller.role === 'admin' ||
    caller.userId === owner.userId ||
    (owner.teamId !== null && caller.teamId === owner.teamId)
  );
}

/**
 * The rule as SQL, one condition per way a row can be visible: the caller's own rows, then their
 * team's rows; admins get one branch with no condition (null). Each branch is an equality on one
 * owner column, so each can be read by its own ordered index scan. The branches may overlap (a
 * team member's own rows usually carry the team too).
 */
export function visibleBranchesSql(
  caller: Caller,
  columns: OwnerColumns,
  param: BindParam,
): Array<string | null> {
  if (caller.role === 'admin') return [null];
  const own = `${columns.userId} = ${param(caller.userId)}`;
  return caller.teamId === null ? [own] : [own, `${columns.teamId} = ${param(caller.teamId)}`];
}

/** The rule as one SQL condition (the branches OR-ed), or null when it admits every row. */
export function visibleToSql(
  caller: Caller,
  columns: OwnerColumns,
  param: BindParam,
): string | null {
  const branches = visibleBranchesSql(caller, columns, param);
  if (branches.includes(null)) return null;
  return branches.length === 1 ? branches[0] : `(${branches.join(' OR ')})`;
}

/** A keyset-paged list of what a caller may see (see `visibleListSql`). */
export interface VisibleListSpec {
  /** `managed_files f`: the table and its alias. */
  readonly from: string;
  /** The alias's columns to return, without the alias (`id`, `created_at`, …). */
  readonly columns: readonly string[];
  readonly owner: OwnerColumns;
  /** Conditions every row must meet besides visibility (live rows, filters). */
  readonly where: readonly string[];
  /** The sort key, unique per row, most significant first (`created_at`, `id`); among `columns`. */
  readonly orderBy: readonly string[];
  readonly order: 'asc' | 'desc';
  /**
   * The sort key of the row the previous page ended with, as SQL expressions in `orderBy`
   * order (placeholders, or a subquery), or null for the first page.
   */
  readonly after: readonly string[] | null;
  /** Rows to return at most (the caller asks for one more than a page to learn `has_more`). */
  readonly limit: number;
}

/**
 * The query of one list page, built so that it reads about as many rows as it returns: each
 * visibility branch is its own `ORDER BY … LIMIT` over the sort key (an ordered index scan on
 * `(owner column, sort key)` stops after `limit` rows, however many the branch holds), and the
 * branches are merged with `UNION ALL`, de-duplicated on the sort key, and cut to `limit` again.
 * One OR-ed condition instead would leave the planner a bitmap scan and a sort of every visible
 * row, whose cost grows with the team, not the page. Admins have one branch: one ordered scan.
 */
export function visibleListSql(caller: Caller, spec: VisibleListSpec, param: BindParam): string {
  const alias = spec.from.trim().split(/\s+/).pop() ?? spec.from;
  const dir = spec.order === 'desc' ? 'DESC' : 'ASC';
  const keys = spec.orderBy.map((column) => `${alias}.${column}`);
  const after =
    spec.after === null
      ? []
      : [`(${keys.join(', ')}) ${spec.order === 'desc' ? '<' : '>'} (${spec.after.join(', ')})`];
  const limit = param(spec.limit);
  const branch = (visible: string | null): string => {
    const where = [...spec.where, ...(visible === null ? [] : [visible]), ...after];
    return (
      `SELECT ${spec.columns.map((c) => `${alias}.${c}`).join(', ')} FROM ${spec.from}` +
      (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
      ` ORDER BY ${keys.map((k) => `${k} ${dir}`).join(', ')} LIMIT ${limit}`
    );
  };
  const branches = visibleBranchesSql(caller, spec.owner, param);
  if (branches.length === 1) return branch(branches[0]);
  const outerKeys = spec.orderBy.join(', ');
  return (
    `SELECT DISTINCT ON (${outerKeys}) * FROM (${branches.map((b) => `(${branch(b)})`).join(' UNION ALL ')}) visible` +
    ` ORDER BY ${spec.orderBy.map((k) => `${k} ${dir}`).join(', ')} LIMIT ${limit}`
  );
}
