import { QueryFailedError } from 'typeorm';
import { isDatabaseUnavailable } from './database-outage.service';

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe(isDatabaseUnavailable.name, () => {
  it('should recognise a refused, reset or dropped connection', () => {
    expect(
      isDatabaseUnavailable(withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')),
    ).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(
      isDatabaseUnavailable(
        new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')], ''),
      ),
    ).toBe(true);
  });

  it('should recognise server shutdown and connection SQLSTATEs behind a QueryFailedError', () => {
    for (const code of ['57P01', '57P03', '08006', '08001', '53300']) {
      const driverError = withCode('terminating connection due to administrator command', code);
      expect(isDatabaseUnavailable(new QueryFailedError('SELECT 1', [], driverError))).toBe(true);
    }
  });

  it('should not take a refused query or an unrelated error for an outage', () => {
    const unique = withCode('duplicate key value violates unique constraint', '23505');
    expect(isDatabaseUnavailable(new QueryFailedError('INSERT', [], unique))).toBe(false);
    expect(isDatabaseUnavailable(withCode('invalid byte sequence for encoding', '22021'))).toBe(
      false,
    );
    expect(isDatabaseUnavailable(new TypeError('x is undefined'))).toBe(false);
    expect(isDatabaseUnavailable('ECONNREFUSED')).toBe(false);
  });
});
