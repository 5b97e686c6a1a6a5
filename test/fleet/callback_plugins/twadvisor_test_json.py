# A stdout callback for test/fleet/ansible.test.ts: every task's result per host and the play
# recap, as one JSON document on stdout. ansible-core alone has no JSON stdout callback (the
# `json` one lives in the ansible.posix collection), and CI installs ansible-core only.
from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: twadvisor_test_json
    type: stdout
    short_description: task results per host as JSON (twadvisor's playbook test)
    description: Prints {"plays":[{"tasks":[{"task":{"name":...},"hosts":{...}}]}],"stats":{...}} at the end.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "twadvisor_test_json"

    def __init__(self, display=None):
        super().__init__(display)
        self._tasks = []
        self._by_uuid = {}

    def _entry(self, task):
        entry = self._by_uuid.get(task._uuid)
        if entry is None:
            entry = {"task": {"name": task.get_name()}, "hosts": {}}
            self._by_uuid[task._uuid] = entry
            self._tasks.append(entry)
        return entry

    def _record(self, result, **extra):
        data = dict(result._result)
        data.update(extra)
        self._entry(result._task)["hosts"][result._host.get_name()] = data

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._entry(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._entry(task)

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed.keys())
        out = {"plays": [{"tasks": self._tasks}], "stats": {h: stats.summarize(h) for h in hosts}}
        self._display.display(json.dumps(out, default=str))
