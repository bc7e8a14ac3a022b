"""Schemathesis hooks for scripts/fuzz.sh.

POST /v1/records takes any JSON as a record's payload, but a `__proto__` key, or a `constructor`
key holding `prototype`, anywhere in a JSON body refuses the whole body with a 400 (fastify's
guard against prototype poisoning; the document says so in words). A schema cannot say "this key
at no depth" short of walking every payload of a 5,000-record batch. Dropping only those generated
bodies keeps every other schema-valid batch held to "accepted" (test/http/fuzz-findings.test.ts
pins the refusal itself).
"""

import schemathesis


def _poisons_prototype(value):
    if isinstance(value, dict):
        constructor = value.get("constructor")
        if "__proto__" in value or (isinstance(constructor, dict) and "prototype" in constructor):
            return True
        return any(_poisons_prototype(v) for v in value.values())
    if isinstance(value, list):
        return any(_poisons_prototype(v) for v in value)
    return False


@schemathesis.hook("filter_body").apply_to(path="/v1/records", method="POST")
def records_without_prototype_keys(ctx, body):
    return not _poisons_prototype(body)
