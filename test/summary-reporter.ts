// Prints one plain closing line, "tests: N passed, N failed, N skipped", after vitest's own summary,
// so CI tools that only understand that form can read the result.

import type { Reporter } from 'vitest/reporters';
import type { RunnerTask } from 'vitest';

function count(tasks: readonly RunnerTask[], totals: { passed: number; failed: number; skipped: number }): void {
  for (const task of tasks) {
    if (task.type === 'suite') {
      count(task.tasks, totals);
      continue;
    }
    const state = task.result?.state;
    if (state === 'pass') totals.passed += 1;
    else if (state === 'fail') totals.failed += 1;
    else totals.skipped += 1;
  }
}

export default class SummaryReporter implements Reporter {
  onFinished(files: readonly { tasks: readonly RunnerTask[]; result?: { state?: string } }[] = [], errors: readonly unknown[] = []): void {
    const totals = { passed: 0, failed: 0, skipped: 0 };
    for (const file of files) {
      count(file.tasks, totals);
      // A file that failed to load has no tests but must still count as a failure.
      if (file.tasks.length === 0 && file.result?.state === 'fail') totals.failed += 1;
    }
    totals.failed += errors.length;
    process.stdout.write(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
  }
}
