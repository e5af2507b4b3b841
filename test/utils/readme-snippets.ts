/**
 * Reads the README's "Try it" section the way a reader pastes it: the shell block as commands,
 * each followed by the output it shows (the `# …` lines right under it), and the Node snippets.
 */

export interface ShellStep {
  /** The command as written, continuation lines included. */
  readonly command: string;
  /** The output the README shows under it, one entry per line; empty when it shows none. */
  readonly shown: readonly string[];
}

export interface TryIt {
  readonly shell: readonly ShellStep[];
  /** The ```js blocks of the section, in order: together they are one ES module. */
  readonly moduleSource: string;
}

export function readTryIt(readme: string): TryIt {
  const start = readme.indexOf('\n### Try it\n');
  if (start < 0) throw new Error('README.md has no "### Try it" section');
  const rest = readme.slice(start + 1);
  const next = rest.slice(1).search(/\n#{2,3} /);
  const section = next < 0 ? rest : rest.slice(0, next + 1);
  const blocks = [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({
    lang: m[1],
    body: m[2],
  }));
  const shell = blocks.filter((b) => b.lang === 'sh');
  if (shell.length !== 1) throw new Error(`Try it: expected one sh block, found ${shell.length}`);
  return {
    shell: shellSteps(shell[0].body),
    moduleSource: blocks
      .filter((b) => b.lang === 'js')
      .map((b) => b.body)
      .join('\n'),
  };
}

/**
 * One step per command (a line, plus the lines its trailing backslashes continue onto). Comment
 * lines directly under a command are its shown output; a comment after a blank line is prose.
 */
function shellSteps(block: string): ShellStep[] {
  const steps: { command: string; shown: string[] }[] = [];
  let current: { command: string; shown: string[] } | null = null;
  let continuing = false;
  for (const line of block.split('\n')) {
    if (continuing && current) {
      current.command += `\n${line}`;
    } else if (line.trim() === '') {
      current = null;
    } else if (line.startsWith('#')) {
      if (current) current.shown.push(line.replace(/^# ?/, ''));
    } else {
      current = { command: line, shown: [] };
      steps.push(current);
    }
    continuing = line.endsWith('\\');
  }
  return steps;
}

/** The shown output as a pattern: the same text, where each `…` stands for any text. */
export function shownPattern(shown: string): RegExp {
  const pattern = shown
    .split('…')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${pattern}$`, 's');
}
