import { loadConfigFile } from '../../client/config-file.js';
import type { RunConfig } from '../../core/config.js';

/** The demo config with overrides: tests start from what users start from. */
export function demoConfig(overrides: Partial<RunConfig> = {}): RunConfig {
  return { ...loadConfigFile('deploy/demo/config.yaml'), ...overrides };
}
