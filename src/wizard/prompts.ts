/**
 * The questions the wizard asks, as data, and the one interface that answers them. The flow
 * (flow.ts) only talks to `Prompts`: at a terminal that is @inquirer/prompts (loaded lazily,
 * so other commands never pay for it), with --answers it is a replay of a file (replay.ts), and
 * in unit tests it is a script. Every question has a stable `id` (its path in the answers file,
 * e.g. `flows.0.peer`), a one-line `hint`, and — where one makes sense — a default.
 */
export type Check = true | string

export interface QuestionBase {
  /** Stable key: the answer's path in an --answers file ("symptom", "flows.0.qps"). */
  id: string
  message: string
  /** One line shown under the question: what it means and where to look it up. */
  hint?: string
}

export interface InputQuestion extends QuestionBase {
  default?: string
  /** true, or the reason the answer is refused (the prompt re-asks with it). */
  validate?: (raw: string) => Check | Promise<Check>
}

export interface Choice<T extends string> {
  value: T
  name: string
  description?: string
}

export interface SelectQuestion<T extends string> extends QuestionBase {
  choices: Choice<T>[]
  default?: T
}

export interface ConfirmQuestion extends QuestionBase {
  default?: boolean
}

export interface Prompts {
  input(q: InputQuestion): Promise<string>
  select<T extends string>(q: SelectQuestion<T>): Promise<T>
  confirm(q: ConfirmQuestion): Promise<boolean>
  /**
   * Called once every question has been answered and before anything is written; a replay
   * refuses answers that no question asked for (a typo must not silently become a default).
   */
  done?(): void
  /** Replay only: whether the answers give this question an answer (not just its default). */
  answered?(id: string): boolean
}

/** A parsed answer or the reason it is refused. */
export type Parsed<T> = {ok: true; value: T} | {ok: false; reason: string}

export interface ParsedQuestion<T> extends QuestionBase {
  default?: string
  parse: (raw: string) => Parsed<T> | Promise<Parsed<T>>
}

/** Ask until `parse` accepts (the prompt re-asks with the reason), and return the parsed value. */
export async function ask<T>(prompts: Prompts, q: ParsedQuestion<T>): Promise<T> {
  const {parse, ...rest} = q
  const raw = await prompts.input({
    ...rest,
    validate: async (v) => {
      const p = await parse(v)
      return p.ok ? true : p.reason
    },
  })
  const p = await parse(raw)
  // The prompt only returns accepted answers; a prompt implementation that does not validate
  // is a bug, not a user error.
  if (!p.ok) throw new Error(`prompt returned a refused answer for ${q.id}: ${p.reason}`)
  return p.value
}

/** inquirer rejects with ExitPromptError on Ctrl-C (matched by name: it lives in @inquirer/core). */
export function isPromptExit(error: unknown): boolean {
  return error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError')
}

/** The terminal: @inquirer/prompts, imported here and only here, when the wizard runs. */
export async function terminalPrompts(hintLine: (hint: string) => void): Promise<Prompts> {
  const inquirer = await import('@inquirer/prompts')
  const showHint = (q: QuestionBase) => {
    if (q.hint) hintLine(q.hint)
  }
  return {
    async input(q) {
      showHint(q)
      return inquirer.input({message: q.message, default: q.default, validate: q.validate})
    },
    async select<T extends string>(q: SelectQuestion<T>) {
      showHint(q)
      return inquirer.select<T>({message: q.message, choices: q.choices, default: q.default, pageSize: 10})
    },
    async confirm(q) {
      showHint(q)
      return inquirer.confirm({message: q.message, default: q.default})
    },
  }
}
