"""`bench ai-eval`: the evaluation harness of /v1/ai/ask (ai/evaluation.py) over a loaded tenant (the
demo's, `analytics-engine demo`), against whatever endpoint is configured (ANALYTICS_AI_URL) or the
offline parser; prints execution accuracy and writes JSON under benchmarks/results/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analytics_engine.bench.common import print_table, write_result


@dataclass(frozen=True)
class _Tenant:
    tenant_id: str
    timezone: str


def run(tenant_name: str, limit: int) -> dict[str, Any]:
    from analytics_engine.ai.evaluation import evaluate
    from analytics_engine.ai.service import AIService
    from analytics_engine.config import get_settings
    from analytics_engine.runtime import Runtime

    runtime = Runtime.build(get_settings())
    try:
        found = runtime.tenants.find_by_name(tenant_name)
        if found is None:
            raise SystemExit(f"no tenant named {tenant_name!r} (load the demo first: analytics-engine demo)")
        report = evaluate(AIService(runtime), _Tenant(found.id, found.timezone), limit=limit)
    finally:
        runtime.close()
    rows = [[intent, v["questions"], v["correct"]] for intent, v in report["by_intent"].items()]
    print_table(f"ai-eval: {report['endpoint']} ({report['model']})", ["intent", "questions", "correct"], rows)
    print(f"execution accuracy {report['execution_accuracy']:.1%} over {report['questions']} questions")
    print(f"wrote {write_result('ai-eval', report)}")
    return report
