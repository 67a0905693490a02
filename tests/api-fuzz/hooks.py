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
    if expected is None or code != expected:
        raise AssertionError(
            f"{response.status_code} with code {code!r}: only {expected or 'no refusal'} is documented as a "
            f"5xx answer of {case.operation.label}"
        )
    return None
