"""Hooks for scripts/schemathesis: which generated requests are not sent, and why.

- `cursor` on list operations is opaque: only a `next_cursor` the server issued is one
  (anything else is 400 naming it), and no schema can list the values the server issued.
  Generated cursors are left out; the Rust tests page through lists with real cursors.
- Actions on the seeded complaint (`POST /complaints/{id}/...`): what a valid body is depends
  on the complaint's platform and state (Alipay texts are 1 to 200 characters, mini programs'
  up to 500; a refund is at most what is left of the order; images must be uploaded media),
  which the document states in prose only, and the Alipay stand-in does not implement the
  actions. They are tested against the platform simulators by the Rust pipeline tests; here
  they run against unknown complaints (404) only.
"""

import os

import schemathesis

SEEDED_COMPLAINT = os.environ.get("SCHEMATHESIS_SEEDED_COMPLAINT")


@schemathesis.hook
def filter_query(context, query):
    return not (query and "cursor" in query)


@schemathesis.hook
def filter_path_parameters(context, path_parameters):
    op = context.operation
    if op is None or not SEEDED_COMPLAINT or not path_parameters:
        return True
    is_action = op.method.upper() == "POST" and op.path.startswith("/admin/v1/complaints/{id}/")
    return not (is_action and path_parameters.get("id") == SEEDED_COMPLAINT)
