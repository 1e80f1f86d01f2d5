"""Hooks for scripts/schemathesis.

`cursor` on list operations is opaque: only a `next_cursor` the server issued is one (anything
else is 400 naming it). No schema can describe the values the server issued, so generated
values are left out instead of being sent: the cursor is exercised by the Rust tests that page
through lists.
"""

import schemathesis


@schemathesis.hook
def filter_query(context, query):
    return not (query and "cursor" in query)
