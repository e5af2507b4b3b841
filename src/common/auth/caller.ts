import type { Role } from '../../config/app-config';

/** Who is calling, as established by AuthGuard. */
export interface Caller {
  readonly userId: string;
  readonly teamId: string | null;
  readonly role: Role;
}
