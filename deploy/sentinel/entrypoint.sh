#!/bin/sh
# A sentinel: copy the shared config where Sentinel may rewrite it, say which name the
# others reach this one by, and run it as the image's redis user.
set -eu
: "${SENTINEL_ANNOUNCE_HOSTNAME:?set SENTINEL_ANNOUNCE_HOSTNAME}"
# A fresh copy at every start, since the redis servers restart in their configured
# roles too; a sentinel learns any later failover from the others.
cp /etc/redis/sentinel.conf /data/sentinel.conf
echo "sentinel announce-ip $SENTINEL_ANNOUNCE_HOSTNAME" >> /data/sentinel.conf
# The image's entrypoint makes /data redis's and steps down from root.
exec docker-entrypoint.sh redis-server /data/sentinel.conf --sentinel
