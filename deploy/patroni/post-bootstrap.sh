#!/bin/sh
# Patroni's post_bootstrap (patroni.yml): once, on the node that initialised the
# cluster, with a superuser connection string as $1. The standbys clone it.
set -eu
psql "$1" -v ON_ERROR_STOP=1 -c 'CREATE DATABASE polls'
