"""Schemathesis hooks for tests/it/api_fuzz.rs (loaded through SCHEMATHESIS_HOOKS).

Packets are sent as `application/toml`, a string in the document: schemathesis has no
serializer for that media type, so it sends those bodies as text, like `text/plain`.

The fuzzer holds one key: a platform administrator's, with the prefix
AICLOUD_FUZZ_KEY_PREFIX, of the service account AICLOUD_FUZZ_ACCOUNT in the project
AICLOUD_FUZZ_PROJECT of the organization AICLOUD_FUZZ_ORG (each a comma-separated list of
the names that identify it: slug and id). Schemathesis reuses real values it read from
earlier responses, so it does aim at that organization (it tried to suspend it by id) and
can find the key's prefix. Four operations would then take the fuzzer's own access away
for the rest of the run (every later request a 401 or 403, nothing fuzzed any more), and
the server does not refuse them for a service account's key:

  - revoking its key, or rotating it (the old key stops at once with the default grace);
  - disabling its service account;
  - suspending its organization (that organization's keys are denied at once).

Only when a request would hit the fuzzer's own key, service account or organization is
that one path value replaced by a name nothing has, so the request is still sent and must
still answer as documented (404). Every other request of these operations, on keys,
accounts and organizations the fuzzer created itself, goes through unchanged.
"""

import os
import sys

import schemathesis


def _names(variable):
    return {name for name in os.environ[variable].split(",") if name}


OWN_ORGS = _names("AICLOUD_FUZZ_ORG")
OWN_PROJECTS = _names("AICLOUD_FUZZ_PROJECT")
OWN_ACCOUNTS = _names("AICLOUD_FUZZ_ACCOUNT")
OWN_PREFIXES = _names("AICLOUD_FUZZ_KEY_PREFIX")

# Valid-looking (hex, like a real prefix; a slug for the rest) and never created.
SPARED_PREFIX = "000000000000"
SPARED_NAME = "spared-by-the-fuzz-test"

schemathesis.serializer.alias("application/toml", "text/plain")

ORGS = "/api/v1/iam/orgs/{org}"
KEY = ORGS + "/projects/{project}/keys/{prefix}"
ACCOUNT = ORGS + "/projects/{project}/service-accounts/{name}"


def _is(value, names):
    return isinstance(value, str) and value in names


def _own_key(params):
    return _is(params.get("prefix"), OWN_PREFIXES)


def _own_account(params):
    return (
        _is(params.get("org"), OWN_ORGS)
        and _is(params.get("project"), OWN_PROJECTS)
        and _is(params.get("name"), OWN_ACCOUNTS)
    )


def _own_org(params):
    return _is(params.get("org"), OWN_ORGS)


# (method, path template) -> (is this request aimed at the fuzzer's own access?, the path
# parameter to replace, its replacement).
LOCKOUTS = {
    ("POST", KEY + "/revoke"): (_own_key, "prefix", SPARED_PREFIX),
    ("POST", KEY + "/rotate"): (_own_key, "prefix", SPARED_PREFIX),
    ("POST", ACCOUNT + "/disable"): (_own_account, "name", SPARED_NAME),
    ("POST", ORGS + "/suspend"): (_own_org, "org", SPARED_NAME),
}


@schemathesis.hook
def before_call(context, case, kwargs):
    lockout = LOCKOUTS.get((case.method.upper(), case.path))
    if lockout is None:
        return
    aimed_at_own, parameter, replacement = lockout
    params = case.path_parameters or {}
    if aimed_at_own(params):
        print(f"api_fuzz_hooks: spared own access: {case.method} {case.path} "
              f"({parameter} {params[parameter]!r} -> {replacement!r})", file=sys.stderr)
        params[parameter] = replacement
        case.path_parameters = params
