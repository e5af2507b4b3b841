import { openAiFineTuning } from './azure-fine-tuning';

describe(openAiFineTuning.name, () => {
  it("should turn Azure's job statuses and organisation_id into OpenAI's", () => {
    const job = { id: 'ftjob-1', status: 'created', organisation_id: 'org-1', model: 'm' };
    expect(openAiFineTuning('fine_tuning.jobs.create', job)).toEqual({
      id: 'ftjob-1',
      status: 'validating_files',
      organization_id: 'org-1',
      model: 'm',
    });
    expect(openAiFineTuning('fine_tuning.jobs.retrieve', { ...job, status: 'pending' })).toEqual(
      expect.objectContaining({ status: 'queued' }),
    );
    // OpenAI statuses pass unchanged.
    expect(openAiFineTuning('fine_tuning.jobs.cancel', { id: 'j', status: 'cancelled' })).toEqual({
      id: 'j',
      status: 'cancelled',
    });
  });

  it("should turn the event level 'warning' into 'warn' and leave other answers alone", () => {
    const events = {
      object: 'list',
      data: [
        { id: 'e1', level: 'warning', message: 'few examples' },
        { id: 'e2', level: 'info', message: 'started' },
      ],
      has_more: false,
    };
    expect(openAiFineTuning('fine_tuning.jobs.list_events', events)).toEqual({
      ...events,
      data: [
        { id: 'e1', level: 'warn', message: 'few examples' },
        { id: 'e2', level: 'info', message: 'started' },
      ],
    });
    const chat = { id: 'chatcmpl-1', status: 'created', organisation_id: 'x' };
    expect(openAiFineTuning('chat.completions', chat)).toBe(chat);
  });
});
