"""Deep links into the dashboard and the logs explorer, from URL templates in the settings."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class Links:
    base: str
    integration_template: str
    run_template: str
    logs_template: str | None

    def _fill(self, template: str, **ids: str) -> str:
        return template.format(
            base=self.base.rstrip("/"), **{k: quote(v, safe="@:.-_") for k, v in ids.items()}
        )

    def integration(self, account_id: str, flow_id: str, integration_id: str) -> str:
        return self._fill(
            self.integration_template,
            accountId=account_id,
            flowId=flow_id,
            integrationId=integration_id,
        )

    def run(self, account_id: str, flow_id: str, integration_id: str, run_id: str) -> str:
        return self._fill(
            self.run_template,
            accountId=account_id,
            flowId=flow_id,
            integrationId=integration_id,
            runId=run_id,
        )

    def logs(self, account_id: str, flow_id: str, integration_id: str, run_id: str) -> str | None:
        if not self.logs_template:
            return None
        return self._fill(
            self.logs_template,
            accountId=account_id,
            flowId=flow_id,
            integrationId=integration_id,
            runId=run_id,
        )
