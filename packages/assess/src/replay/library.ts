// Where scenarios come from: the built-in library shipped with the package, and a user's folder.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseScenarios, type Scenario, type ScenarioProblem } from './scenario.js';

/** The package's scenarios/ folder (beside dist/ once built, beside src/ in the repository). */
export const BUILTIN_SCENARIOS_DIR = fileURLToPath(new URL('../../scenarios/', import.meta.url));

export interface LoadedScenarios {
  scenarios: Scenario[];
  problems: ScenarioProblem[];
}

/** Every `*.yaml`/`*.yml` file of a folder, in name order; unreadable files are problems, not crashes. */
export async function loadScenarioDir(dir: string): Promise<LoadedScenarios> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => /\.ya?ml$/.test(name)).sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    return {
      scenarios: [],
      problems: [
        {
          file: dir,
          line: 1,
          column: 1,
          code: 'file.unreadable',
          message: `cannot read the folder (${code})`,
        },
      ],
    };
  }
  const loaded: LoadedScenarios = { scenarios: [], problems: [] };
  for (const name of names) {
    const file = join(dir, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      loaded.problems.push({
        file,
        line: 1,
        column: 1,
        code: 'file.unreadable',
        message: `cannot read the file (${code})`,
      });
      continue;
    }
    const parsed = parseScenarios(text, file);
    loaded.scenarios.push(...parsed.scenarios);
    loaded.problems.push(...parsed.problems);
  }
  return loaded;
}

export const loadBuiltinScenarios = (): Promise<LoadedScenarios> => loadScenarioDir(BUILTIN_SCENARIOS_DIR);
