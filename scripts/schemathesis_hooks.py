"""Hooks for scripts/schemathesis: which generated requests are not sent, and why.

- `cursor` on list operations is opaque: only a `next_cursor` the server issued is one
  (anything else is 400 naming it), and no schema can list the values the server issued.
  Generated cursors are left out; the Rust tests page through lists with real cursors.
- Actions on the seeded complaint (`POST /complaints/{id}/...`): what a valid body is depends
  on the complaint's platform and state (Alipay texts are 1 to 200 characters, mini programs'
  up to 500; a refund is at most what is left of the order; images must be uploaded media),
  which the document states in prose only (and the seeded complaint is finished on the Alipay
  simulator, which refuses actions on it). They are tested against the platform simulators by the Rust pipeline tests; here
  they run against unknown complaints (404) only.
- DELETE with a seeded id (an account, the sub-merchant) other than the throwaway ones
  scripts/schemathesis gives DELETE: the seeded data stays for the other operations.
"""

import os

import schemathesis

SEEDED_COMPLAINT = os.environ.get("SCHEMATHESIS_SEEDED_COMPLAINT")
SEEDED_IDS = set(os.environ.get("SCHEMATHESIS_SEEDED_IDS", "").split())


@schemathesis.hook
def filter_query(context, query):
    return not (query and "cursor" in query)


@schemathesis.hook
def filter_path_parameters(context, path_parameters):
    op = context.operation
    if op is None or not path_parameters:
        return True
    method = op.method.upper()
    # The resource a DELETE removes is named by its last path parameter.
    deleted = path_parameters.get("sub_mchid", path_parameters.get("id"))
    if method == "DELETE" and str(deleted) in SEEDED_IDS:
        return False
    is_action = method == "POST" and op.path.startswith("/admin/v1/complaints/{id}/")
    return not (is_action and path_parameters.get("id") == SEEDED_COMPLAINT)
