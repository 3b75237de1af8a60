// The policy: the file the console enforces, with every validation problem at its line and column.
import { chip, h, replace, table } from '../dom.js';
import { escapedText, markedText } from '../escape.js';
import { keepOnError, type PageFactory } from '../page.js';
import type { PolicyProblem } from '../types.js';

export const policyPage: PageFactory = ({ api }) => {
  const status = h('div', { class: 'policy-status' });
  const problems = h('div');
  const source = h('div', { class: 'source' });
  const element = h(
    'div',
    { class: 'page policy' },
    h('section', { class: 'panel' }, h('h2', null, 'Validation'), status, problems),
    h('section', { class: 'panel' }, h('h2', null, 'Policy file'), source),
  );
  const refresh = keepOnError(async () => {
    const policy = await api.get<{ path: string; text: string; problems: PolicyProblem[] }>('/api/policy');
    const errors = policy.problems.filter((problem) => problem.severity === 'error').length;
    replace(
      status,
      h('code', { class: 'policy-path' }, policy.path),
      ' ',
      errors > 0
        ? chip(`${errors} error${errors === 1 ? '' : 's'}`, 'failed')
        : chip(
            policy.problems.length > 0
              ? `valid, ${policy.problems.length} warning${policy.problems.length === 1 ? '' : 's'}`
              : 'valid',
            'ok',
          ),
    );
    replace(
      problems,
      policy.problems.length > 0
        ? table(
            ['severity', 'where', 'code', 'problem'],
            policy.problems.map((problem) =>
              h(
                'tr',
                null,
                h(
                  'td',
                  null,
                  chip(problem.severity, `severity-${problem.severity === 'error' ? 'high' : 'low'}`),
                ),
                h(
                  'td',
                  null,
                  h(
                    'a',
                    { href: `#L${problem.line ?? 1}`, class: 'line-link' },
                    `${problem.line ?? '?'}:${problem.column ?? '?'}`,
                  ),
                ),
                h('td', null, h('code', null, problem.code)),
                h('td', { class: 'text' }, escapedText(problem.message)),
              ),
            ),
            '',
          )
        : null,
    );
    const flagged = new Map<number, PolicyProblem[]>();
    for (const problem of policy.problems) {
      if (problem.line !== undefined)
        flagged.set(problem.line, [...(flagged.get(problem.line) ?? []), problem]);
    }
    replace(
      source,
      h(
        'ol',
        { class: 'lines' },
        policy.text.split('\n').map((line, index) => {
          const here = flagged.get(index + 1);
          return h(
            'li',
            {
              id: `L${index + 1}`,
              class: here ? 'line flagged' : 'line',
              ...(here ? { title: here.map((p) => `${p.code}: ${p.message}`).join('\n') } : {}),
            },
            h('code', null, markedText(line)),
          );
        }),
      ),
    );
  });
  return { element, refresh };
};
