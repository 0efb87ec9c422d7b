#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 for the tests (user postgres, trust
# auth on loopback), as on the development and CI machines. When nothing answers: installs
# Debian's `postgresql` if missing, lets local connections in without a password, and starts the
# cluster with pg_ctlcluster. Does nothing when a server already answers.
set -euo pipefail
answers() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if answers; then
  echo "postgres: answering on 127.0.0.1:5432"
  exit 0
fi
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "postgres: installing Debian's postgresql"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends postgresql
fi
version=$(ls /etc/postgresql | sort -V | tail -1)
conf=/etc/postgresql/$version/main
if ! $SUDO grep -q "nbhook tests" "$conf/pg_hba.conf"; then
  # Tests connect as postgres over TCP on loopback without a password (never do this on a shared host).
  $SUDO sed -i '1i # nbhook tests: trust on loopback\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust' "$conf/pg_hba.conf"
fi
echo "postgres: starting cluster $version/main"
$SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || $SUDO pg_ctlcluster "$version" main start
for _ in $(seq 1 30); do
  answers && { echo "postgres: answering on 127.0.0.1:5432"; exit 0; }
  sleep 1
done
echo "postgres: the server did not answer on 127.0.0.1:5432 after 30 s" >&2
exit 1
