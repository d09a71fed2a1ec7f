// Prints one plain closing line, "tests: N passed, N failed, N skipped", after vitest's own summary,
// so CI tools that only understand that form can read the result.

import type { Reporter } from 'vitest/reporters';
import type { RunnerTask } from 'vitest';

interface Totals {
  passed: number;
  failed: number;
  skipped: number;
}

/** Counts the tests under `tasks`; returns how many of them failed. */
function count(tasks: readonly RunnerTask[], totals: Totals): number {
  let failed = 0;
  for (const task of tasks) {
    if (task.type === 'suite') {
      const failedInside = count(task.tasks, totals);
      // A suite whose hook failed (beforeAll, afterAll) fails the run while every test in it passed:
      // it counts as one failure, or the line would say "0 failed" under a failing exit code.
      if (task.result?.state === 'fail' && failedInside === 0) {
        totals.failed += 1;
        failed += 1;
      }
      failed += failedInside;
      continue;
    }
    const state = task.result?.state;
    if (state === 'pass') totals.passed += 1;
    else if (state === 'fail') {
      totals.failed += 1;
      failed += 1;
    } else totals.skipped += 1;
  }
  return failed;
}

export default class SummaryReporter implements Reporter {
  onFinished(files: readonly { tasks: readonly RunnerTask[]; result?: { state?: string } }[] = [], errors: readonly unknown[] = []): void {
    const totals: Totals = { passed: 0, failed: 0, skipped: 0 };
    for (const file of files) {
      // A file that failed to load, or whose top-level hook failed, counts as a failure too.
      if (count(file.tasks, totals) === 0 && file.result?.state === 'fail') totals.failed += 1;
    }
    totals.failed += errors.length;
    process.stdout.write(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
  }
}
