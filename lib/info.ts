import { type CpuInfo, engineAddon } from './native.js';

export type { CpuInfo } from './native.js';

/** The CPU features crossrank found and the kernels it chose for them. */
export function cpuInfo(): CpuInfo {
  return engineAddon().cpuInfo();
}
