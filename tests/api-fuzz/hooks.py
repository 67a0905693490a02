"""Schemathesis extensions of tests/api-fuzz/run.sh.

`documented_server_refusal`: LUCS (seed 000) documents two refusals as 500, `TaskAlreadyEstablished` from
`setestablished` and `AgentAlreadyConnected` from `refresh`. schemathesis.toml lets those two operations answer
500; this check makes sure such a 500 is one of those refusals and not a server error.
"""

import schemathesis

DOCUMENTED_500 = {
    "setestablished": "TaskAlreadyEstablished",
    "refresh": "AgentAlreadyConnected",
}


@schemathesis.check
def documented_server_refusal(ctx, response, case):
    if response.status_code < 500:
        return None
    expected = DOCUMENTED_500.get(case.operation.path.rstrip("/").rsplit("/", 1)[-1])
    try:
        code = response.json()["Error"]["Code"]
    except Exception:
        code = None
    if response.status_code != 500 or expected is None or code != expected:
        documented = f"500 {expected}" if expected else "no 5xx"
        raise AssertionError(
            f"{response.status_code} with code {code!r}: {case.operation.label} documents {documented}"
        )
    return None
