"""Seeds the fuzzed server with a little data through its REST API, so that the identifiers listed in
schemathesis.toml's dictionaries name something: a service, a signed-in user holding an offered task, a waiting
task, a callback, an organization unit, an absence reason, a callback period, a webhook, an access
point and a Puzzel request.

Usage: seed.py BASE_URL ADMIN_KEY
"""

import json
import sys
import urllib.error
import urllib.request

base, key = sys.argv[1], sys.argv[2]


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("api_key", key)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as error:
        sys.exit(f"seeding failed: {method} {path} answered {error.code}: {error.read().decode()}")
    return json.loads(text) if text else None


call("POST", "/v2.0/organizationunits", {"Id": "fuzz-unit", "Name": "Fuzz Unit"})
call("POST", "/v2.0/absencereasons", {"Name": "Lunch"})
call("POST", "/v2.0/services", {"Name": "Fuzz Care", "SipUri": "sip:fuzz-care@fuzz.local", "Culture": "en-GB",
                                "OrganizationUnit": "fuzz-unit"})
call("POST", "/v1.0/users", {"SipUri": "sip:fuzz.agent@fuzz.local", "FirstName": "Fuzz", "LastName": "Agent",
                             "Services": [{"Service": "sip:fuzz-care@fuzz.local"}]})
call("POST", "/v1.0/users", {"SipUri": "sip:fuzz.other@fuzz.local", "FirstName": "Fuzz", "LastName": "Other",
                             "Services": [{"Service": "sip:fuzz-care@fuzz.local"}]})
call("POST", "/v1.0/users/fuzz.agent@fuzz.local/setpresence", {"Presence": "Online"})
call("POST", "/v2.0/callbackperiods", {"Name": "Morning", "PeriodStart": "08:00", "PeriodEnd": "12:00"})
# Deliveries to the discard port fail and are retried in the background; the subscription is what matters here.
call("POST", "/v2.0/webhooks", {"Id": "fuzz-hook", "Url": "http://127.0.0.1:9/hook", "Types": ["Tasks"]})
call("POST", "/v2.0/accesspoints", {"Name": "support@fuzz.local", "Service": "sip:fuzz-care@fuzz.local"})
# Request 1: the first task of the tenant, offered to the signed-in user.
request = call("POST", "/default/requests",
               {"data": json.dumps({"To": "support@fuzz.local", "Subject": "fuzz"}), "type": "mail"})
call("POST", "/v1.0/tasks", {"ExternalTaskId": "fuzz-task", "Service": "sip:fuzz-care@fuzz.local",
                             "Caller": "Fuzzy", "Type": "IncomingCall"})
call("POST", "/v1.0/callbacks", {"ExternalTaskId": "fuzz-callback", "Target": "+41440000000",
                                 "SecondsBetweenRetries": 60, "MaxRetries": 2, "Priority": "Normal",
                                 "ServiceSip": "sip:fuzz-care@fuzz.local"})
print("seeded: unit fuzz-unit, service sip:fuzz-care@fuzz.local, users fuzz.agent and fuzz.other, "
      f"Puzzel request {request}, task fuzz-task, callback fuzz-callback, callback period Morning, webhook fuzz-hook")
