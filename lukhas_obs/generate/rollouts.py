"""Argo Rollouts AnalysisTemplates and Flagger Canaries that ask `slo-gate serve` whether a canary
goes on: one of each per service with SLOs that the canary gate judges (spec `gates.serve.url`
with `kubernetes:`). They sit in two folders, argo-rollouts/ and flagger/, since a team runs one
controller, and applying a Canary hands its Deployment to Flagger.

Argo Rollouts (`web` provider): the endpoint answers 200 with the report for every outcome, the
template reads `outcome` (jsonPath) and maps PASS to Successful and FAIL to Failed; INCONCLUSIVE
and ERROR satisfy neither condition and are Inconclusive. With consecutiveSuccessLimit 1 the first
PASS ends the step's run Successful, the (failureLimit+1)th FAIL ends it Failed (abort: roll back),
and `count` looks without either end it Inconclusive: the Rollout pauses for a human, as the gate's
"hold" asks. Errors (the endpoint down, a 5xx) are Argo's own Error measurements, ended by its
consecutiveErrorLimit (default 4).

Flagger: webhooks read status codes, so each hook names its contract (`hook=`): the promotion
waits for PASS (confirm-promotion), and a FAIL rolls back at once (rollback: Flagger rolls back on
2xx, which the endpoint answers only for FAIL). The weight rises by `steps` every interval, as
Flagger does; Flagger counts no looks, so a canary the gate cannot judge waits before promotion."""

from __future__ import annotations

from urllib.parse import urlencode

from lukhas_obs.conventions import GATE_API_PATH, traffic_services
from lukhas_obs.durations import format_duration, parse_duration
from lukhas_obs.generate.kubernetes import _meta
from lukhas_obs.model import Spec

ARGO_API = "argoproj.io/v1alpha1"
FLAGGER_API = "flagger.app/v1beta1"
MARGIN = 5          # seconds: the gate's deadline ends this long before the controller stops waiting
METRIC = "slo-gate"


def services(spec: Spec) -> list[str]:
    """Services with SLOs that the canary gate judges (it compares request counters: a service
    without them would never be anything but INCONCLUSIVE)."""
    return traffic_services(spec, [s.name for s in spec.services if s.slos])


def _timeout(spec: Spec) -> int:
    return int(parse_duration(spec.gates.serve_timeout))


def gate_url(spec: Spec, service: str, hook: str | None = None) -> str:
    """The canary question for one service, with a deadline the caller outwaits."""
    assert spec.gates.serve_url is not None
    params = [("mode", "canary"), ("service", service), ("timeout", format_duration(_timeout(spec) - MARGIN))]
    if hook:
        params.append(("hook", hook))
    return spec.gates.serve_url.rstrip("/") + GATE_API_PATH + "?" + urlencode(params)


def analysis_template(spec: Spec, service: str) -> dict:
    g = spec.gates
    metric = {
        "name": METRIC,
        "interval": g.analysis_interval,
        "count": g.analysis_count,
        "failureLimit": g.analysis_failure_limit,
        "inconclusiveLimit": g.inconclusive_limit,
        "consecutiveSuccessLimit": 1,
        "successCondition": 'result == "PASS"',
        "failureCondition": 'result == "FAIL"',
        "provider": {"web": {"url": gate_url(spec, service), "jsonPath": "{$.outcome}",
                             "timeoutSeconds": _timeout(spec)}},
    }
    return {"apiVersion": ARGO_API, "kind": "AnalysisTemplate", "metadata": _meta(spec, f"slo-gate-{service}"),
            "spec": {"metrics": [metric]}}


# No confirm-traffic-increase: Flagger calls it before the first step too, when the canary has
# had no traffic, so the canary gate could only say INCONCLUSIVE and the weight would stay at 0.
FLAGGER_HOOKS = (("slo-gate-promotion", "confirm-promotion"), ("slo-gate-rollback", "rollback"))


def flagger_canary(spec: Spec, service: str) -> dict:
    g = spec.gates
    hooks = [{"name": name, "type": kind, "url": gate_url(spec, service, kind), "timeout": f"{_timeout(spec)}s"}
             for name, kind in FLAGGER_HOOKS]
    # the gate's last step (100 %) is Flagger's promotion, which confirm-promotion guards
    weights = [w for w in g.steps if w < 100] or [100]
    body: dict = {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": service}}
    port = spec.service(service).port
    if port:
        body["service"] = {"port": port}
    # threshold: the failed checks Flagger counts (its own metrics, hooks added by hand) before it
    # rolls back; the gate's FAIL comes through the rollback hook and rolls back at once
    body["analysis"] = {"interval": g.analysis_interval, "threshold": g.analysis_failure_limit + 1,
                        "stepWeights": weights, "webhooks": hooks}
    return {"apiVersion": FLAGGER_API, "kind": "Canary", "metadata": _meta(spec, service), "spec": body}


def objects(spec: Spec) -> dict[str, dict]:
    """Path under the output folder -> object, one object per file."""
    out: dict[str, dict] = {}
    if spec.kubernetes is None or spec.gates.serve_url is None:
        return out
    for name in services(spec):
        out[f"argo-rollouts/analysistemplate-{name}.yaml"] = analysis_template(spec, name)
        out[f"flagger/canary-{name}.yaml"] = flagger_canary(spec, name)
    return out
