import type { Role } from '../../config/app-config';

/** Who is calling, as established by AuthGuard. */
export interface Caller {
  readonly userId: string;
  readonly teamId: string | null;
  readonly role: Role;
}

/** What an owned object records about its owner. */
export interface Owner {
  readonly userId: string;
  readonly teamId: string | null;
}

/** The owner, members of the owner's team, and admins may use an object; nobody else. */
export function canAccess(caller: Caller, owner: Owner): boolean {
  return (
    caller.role === 'admin' ||
    caller.userId === owner.userId ||
    (owner.teamId !== null && caller.teamId === owner.teamId)
  );
}
