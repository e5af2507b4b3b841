import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ApiKeyEntry, Role, TrustedHeadersConfig } from '../../config/app-config';
import { AuthenticationError } from '../errors/api-error';
import type { Caller } from './caller';
import { sha256 } from './digest';

const USER_HEADER = 'x-user-id';
const TEAM_HEADER = 'x-team-id';
const ROLE_HEADER = 'x-user-role';

/**
 * Turns request headers into a Caller. Pure (no Nest) so it is unit-tested directly.
 *
 * Keys are looked up by their SHA-256: hashing first means the lookup's timing says nothing
 * about how close a guess was, and the final comparison is constant-time anyway.
 */
export class CredentialResolver {
  private readonly byDigest: ReadonlyMap<string, ApiKeyEntry>;
  private readonly secret: Buffer | null;

  constructor(
    apiKeys: readonly ApiKeyEntry[],
    private readonly trusted: TrustedHeadersConfig | null,
  ) {
    this.byDigest = new Map(apiKeys.map((k) => [k.keySha256.toString('hex'), k]));
    this.secret = trusted ? sha256(trusted.secret) : null;
  }

  /** @throws AuthenticationError when the request carries no valid credentials. */
  resolve(headers: IncomingHttpHeaders): Caller {
    if (this.trusted && this.secret) {
      const presented = single(headers[this.trusted.secretHeader]);
      if (presented !== undefined) {
        // A request that claims to come from the API gateway but has the wrong secret is
        // refused outright rather than falling back to its bearer token.
        if (!timingSafeEqual(sha256(presented), this.secret)) {
          throw new AuthenticationError('Invalid gateway secret header.');
        }
        return this.fromTrustedHeaders(headers);
      }
    }
    return this.fromBearer(single(headers.authorization));
  }

  private fromBearer(authorization: string | undefined): Caller {
    const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
    if (!match) {
      throw new AuthenticationError();
    }
    const digest = sha256(match[1]);
    const entry = this.byDigest.get(digest.toString('hex'));
    if (!entry || !timingSafeEqual(entry.keySha256, digest)) {
      throw new AuthenticationError('Incorrect API key provided.');
    }
    return { userId: entry.userId, teamId: entry.teamId, role: entry.role };
  }

  private fromTrustedHeaders(headers: IncomingHttpHeaders): Caller {
    const userId = single(headers[USER_HEADER])?.trim();
    if (!userId) {
      throw new AuthenticationError(`Trusted identity is missing the ${USER_HEADER} header.`);
    }
    const role = single(headers[ROLE_HEADER])?.trim().toLowerCase() ?? 'user';
    if (role !== 'user' && role !== 'admin') {
      throw new AuthenticationError(`${ROLE_HEADER} must be "user" or "admin".`);
    }
    const teamId = single(headers[TEAM_HEADER])?.trim() || null;
    return { userId, teamId, role: role satisfies Role };
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
