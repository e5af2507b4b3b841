import { parseSimulatorArgs } from './cli-options';

describe(parseSimulatorArgs.name, () => {
  it('should read flags, including a valueless --discard-content', () => {
    const options = parseSimulatorArgs(
      [
        '--dialect',
        'azure',
        '--port',
        '4101',
        '--api-key',
        'k',
        '--bandwidth',
        '200000000',
        '--discard-content',
        '--status-step-ms=50',
      ],
      {},
    );
    expect(options).toEqual({
      dialect: 'azure',
      port: 4101,
      apiKey: 'k',
      bandwidthBytesPerSec: 200_000_000,
      discardContent: true,
      statusStepMs: 50,
    });
  });

  it('should read SIM_* variables and let flags override them', () => {
    const options = parseSimulatorArgs(['--port', '9'], {
      SIM_DIALECT: 'azure',
      SIM_PORT: '4000',
      SIM_API_VERSION: '2024-10-21',
      SIM_DISCARD_CONTENT: 'false',
      SIM_NAME: 'east',
    });
    expect(options).toEqual({
      dialect: 'azure',
      port: 9,
      apiVersion: '2024-10-21',
      discardContent: false,
      name: 'east',
    });
  });

  it('should read --count-only, and refuse it without --discard-content', () => {
    expect(parseSimulatorArgs(['--discard-content', '--count-only'], {})).toEqual({
      dialect: 'openai',
      discardContent: true,
      countOnly: true,
    });
    expect(() => parseSimulatorArgs(['--count-only'], {})).toThrow(
      '--count-only needs --discard-content',
    );
  });

  it('should default to the openai dialect', () => {
    expect(parseSimulatorArgs([], {})).toEqual({ dialect: 'openai' });
  });

  it('should reject unknown options, bad numbers and a missing value', () => {
    expect(() => parseSimulatorArgs(['--nope'], {})).toThrow("unknown option '--nope'");
    expect(() => parseSimulatorArgs(['--port', 'x'], {})).toThrow('--port must be an integer');
    expect(() => parseSimulatorArgs(['--api-key'], {})).toThrow('--api-key needs a value');
    expect(() => parseSimulatorArgs(['--dialect', 'gcp'], {})).toThrow('--dialect must be');
  });
});
