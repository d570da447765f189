"""The national registry's lookup protocol, as plain constants.

The client (identity/registry.py) and the development double (registry_simulator/) both
speak it, so each name is spelled here once. No Django import: the simulator does not
boot Django. The signature scheme itself is identity/signing.py.
"""

LOOKUP_PATH = "/v1/citizens/lookup"

# A citizen record is a few hundred bytes; anything much larger is not an answer (or a
# request) we want to hold in memory.
MAX_BODY_BYTES = 64 * 1024

# Headers of the signature scheme (identity/signing.py), on requests and answers alike.
CLIENT_HEADER = "X-Registry-Client"
TIMESTAMP_HEADER = "X-Registry-Timestamp"
SIGNATURE_HEADER = "X-Registry-Signature"

# A citizen record: the lookup's answer, and a row of the simulator's citizens file.
CITIZEN_FIELDS = ("national_id", "first_name", "last_name", "date_of_birth", "status")
ALIVE = "alive"
DECEASED = "deceased"
STATUSES = (ALIVE, DECEASED)

# The `error` of the one 404 body that means "no such citizen" (any other 404 does not).
NOT_FOUND = "not_found"
