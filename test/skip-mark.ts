/** The suffix a skipped suite's name carries (test/root.ts), which the summary reporter collects. */
export const SKIP_MARK = /\s\[skipped: (.+)\]$/
