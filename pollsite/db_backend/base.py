"""Django's PostgreSQL backend with a health check that costs no round trip.

Persistent connections (CONN_MAX_AGE) outlive a database restart, so Django can check a
kept connection before a request's first query (CONN_HEALTH_CHECKS). Its check is a
`SELECT 1`: a full round trip, and a transaction on the server, for every request (a
quarter of a vote's wall time on this stack, py-spy). A kept connection sits idle between
requests, with nothing to read (it sends no LISTEN). One that a restart, a crash or
pg_terminate_backend() ended has something waiting: the server's last message ("FATAL:
terminating connection due to administrator command"), or the end of the stream. So the
check asks the socket, without waiting, whether anything is there; if so, or if libpq
already knows the connection is closed or inside a transaction, it is closed and
replaced before the request's first query, as with Django's own check. (libpq reads
such a FATAL message as a mere notice and would still report the connection open.)
"""

import select

from django.db.backends.postgresql import base
from psycopg2.extensions import STATUS_READY


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        conn = self.connection
        if conn is None or conn.closed or conn.status != STATUS_READY:
            return False
        try:
            readable, _, _ = select.select([conn], [], [], 0)
        except (OSError, ValueError):  # a socket the client side already closed
            return False
        return not readable
