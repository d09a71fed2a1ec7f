// The scenarios of issues 6 (1–5) and 15 (6–9), by number.

import type { Scenario } from '../scenario.js';
import { asyncTasksScenario } from './async-tasks.js';
import { largeB64Scenario } from './large-b64.js';
import { rehostUrlScenario } from './rehost-url.js';
import { slowUpstreamScenario } from './slow-upstream.js';
import { openLoopScenario } from './open-loop.js';
import { smallB64Scenario } from './small-b64.js';
import { smallUrlScenario } from './small-url.js';
import { walBoundScenario } from './wal-bound.js';
import { workersScenario } from './workers.js';

export const scenarios: readonly Scenario[] = [smallUrlScenario, largeB64Scenario, rehostUrlScenario, asyncTasksScenario, slowUpstreamScenario, smallB64Scenario, openLoopScenario, walBoundScenario, workersScenario];

export { benchChannels } from './channels.js';
