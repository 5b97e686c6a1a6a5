import type {HostInput} from '../check.js'

export interface HostReadError {
  label: string
  source: string
  error: {code: string; message: string}
}

/** Placeholder until the fleet issue lands: reads nothing. */
export async function readHostsDir(_dir: string): Promise<(HostInput | HostReadError)[]> {
  return []
}
