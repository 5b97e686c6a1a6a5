/**
 * A small unified diff (the format `diff -u` and `patch` read) from a longest common
 * subsequence of lines. Generated files are tens of lines, so the O(n·m) table is cheap; past
 * MAX_CELLS the diff degrades to "replace everything", still correct.
 */
const MAX_CELLS = 4_000_000
/** Marks a last line that has no newline, so it never matches the same text with one. */
const NO_EOL = '\u0000'

type Op = {t: ' ' | '-' | '+'; text: string; o: number; n: number}

function toLines(text: string): string[] {
  if (text === '') return []
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  else lines[lines.length - 1] += NO_EOL
  return lines
}

function editScript(a: string[], b: string[]): Op[] {
  const n = a.length
  const m = b.length
  const ops: Op[] = []
  if ((n + 1) * (m + 1) > MAX_CELLS) {
    a.forEach((text, i) => ops.push({t: '-', text, o: i, n: 0}))
    b.forEach((text, j) => ops.push({t: '+', text, o: n, n: j}))
    return ops
  }
  // lcs[i][j]: length of the LCS of a[i..] and b[j..], flattened.
  const w = m + 1
  const lcs = new Uint32Array((n + 1) * w)
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] = a[i] === b[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!)
    }
  }
  let i = 0
  let j = 0
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({t: ' ', text: a[i]!, o: i, n: j})
      i++
      j++
    } else if (i < n && (j === m || lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!)) {
      // Deletions before insertions, as diff -u prints them.
      ops.push({t: '-', text: a[i]!, o: i, n: j})
      i++
    } else {
      ops.push({t: '+', text: b[j]!, o: i, n: j})
      j++
    }
  }
  return ops
}

function range(start: number, count: number): string {
  // An empty side names the line before it (GNU diff, git); a single line omits the count.
  if (count === 0) return `${start},0`
  return count === 1 ? `${start + 1}` : `${start + 1},${count}`
}

export interface DiffOptions {
  oldLabel?: string
  newLabel?: string
  context?: number
}

/** The unified diff from oldText to newText; '' when they are equal. */
export function unifiedDiff(oldText: string, newText: string, opts: DiffOptions = {}): string {
  if (oldText === newText) return ''
  const context = opts.context ?? 3
  const ops = editScript(toLines(oldText), toLines(newText))
  const changes = ops.flatMap((op, k) => (op.t === ' ' ? [] : [k]))
  const out = [`--- ${opts.oldLabel ?? 'a'}`, `+++ ${opts.newLabel ?? 'b'}`]
  let h = 0
  while (h < changes.length) {
    let last = h
    while (last + 1 < changes.length && changes[last + 1]! - changes[last]! <= 2 * context) last++
    const start = Math.max(0, changes[h]! - context)
    const end = Math.min(ops.length - 1, changes[last]! + context)
    const slice = ops.slice(start, end + 1)
    const first = slice[0]!
    const oldCount = slice.filter((op) => op.t !== '+').length
    const newCount = slice.filter((op) => op.t !== '-').length
    out.push(`@@ -${range(first.o, oldCount)} +${range(first.n, newCount)} @@`)
    for (const op of slice) {
      if (op.text.endsWith(NO_EOL)) out.push(op.t + op.text.slice(0, -1), '\\ No newline at end of file')
      else out.push(op.t + op.text)
    }
    h = last + 1
  }
  return out.join('\n') + '\n'
}
