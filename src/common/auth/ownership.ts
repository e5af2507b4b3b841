import type { Caller } from './caller';

/** What an owned object records about its owner. */
export interface Owner {
  readonly userId: string;
  readonly teamId: string | null;
}

/**
 * The one ownership rule: the owner, members of the owner's team, and admins may use an object;
 * nobody else. `canAccess` applies it to one loaded object, `visibleToSql` to a list query, so
 * a list never shows what a retrieve would refuse.
 */
export function canAccess(caller: Caller, owner: Owner): boolean {
  return (
    caller.role === 'admin' ||
    caller.userId === owner.userId ||
    (owner.teamId !== null && caller.teamId === owner.teamId)
  );
}

/**
 * The same rule as a SQL condition over a table's owner columns, or null when it admits every
 * row (admins). `param` binds a value and returns its placeholder.
 */
export function visibleToSql(
  caller: Caller,
  columns: { readonly userId: string; readonly teamId: string },
  param: (value: unknown) => string,
): string | null {
  if (caller.role === 'admin') return null;
  const own = `${columns.userId} = ${param(caller.userId)}`;
  return caller.teamId === null ? own : `(${own} OR ${columns.teamId} = ${param(caller.teamId)})`;
}
