# scripts/lib.sh — what scripts/run and scripts/test share: running as root,
# finding the server binaries the private servers are run from (PostgreSQL,
# MariaDB, Dovecot), installing Debian packages. Sourced; expects die() to be
# defined by the caller.

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $* (install sudo or run as root)"
  fi
}

# have_pg_server tells whether PostgreSQL server binaries are where the
# launcher looks first (internal/pglocal.FindBinDir: PATH, /usr/lib/postgresql).
have_pg_server() {
  local d
  if d=$(command -v initdb 2>/dev/null) && [ -x "$(dirname "$d")/postgres" ]; then
    return 0
  fi
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then
      return 0
    fi
  done
  return 1
}

# have_mariadb_server tells whether MariaDB's server binaries are where
# internal/mariadblocal.FindBinaries looks (PATH, /usr/sbin, /usr/bin).
have_mariadb_server() {
  local d found_install=0 found_server=0
  for d in $(printf '%s' "$PATH" | tr ':' ' ') /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
    { [ -x "$d/mariadb-install-db" ] || [ -x "$d/mysql_install_db" ]; } && found_install=1
    { [ -x "$d/mariadbd" ] || [ -x "$d/mysqld" ]; } && found_server=1
  done
  [ "$found_install" -eq 1 ] && [ "$found_server" -eq 1 ]
}

# have_dovecot_imap tells whether Dovecot's master and its IMAP service are
# where internal/dovecotlocal.FindBinary looks (PATH, /usr/sbin).
have_dovecot_imap() {
  { command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; } &&
    { [ -x /usr/lib/dovecot/imap ] || [ -x /usr/libexec/dovecot/imap ]; }
}

# need_server CHECK PACKAGE MISSING [AFTER]: when CHECK (one of the have_*
# above) fails, installs the Debian package PACKAGE without starting its
# service, runs AFTER (if given) once it is installed, and dies saying
# MISSING when CHECK still fails. The launchers (internal/pglocal,
# internal/mariadblocal, internal/dovecotlocal) run the binaries with a
# configuration of their own.
need_server() {
  local check=$1 package=$2 missing=$3 after=${4:-}
  "$check" && return 0
  printf '    not found: installing the Debian package %s (its own service is not started)\n' "$package" >&2
  apt_install "$package"
  if [ -n "$after" ]; then
    "$after"
  fi
  "$check" || die "$package installed, but $missing"
}

# apt_install installs Debian packages without asking and without letting
# their maintainer scripts start services (Debian's postgresql would start
# its own cluster, mariadb-server its own server). apt-get update runs once per invocation.
apt_updated=0 # apt-get update runs once per script
apt_install() {
  command -v apt-get >/dev/null 2>&1 ||
    die "cannot install $* automatically (no apt-get): install them with your system's package manager and rerun"
  local policy=/usr/sbin/policy-rc.d ours=0 rc=0
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    ours=1
    trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT # also when interrupted
  fi
  if [ "$apt_updated" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
    apt_updated=1
  fi
  if [ "$rc" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "$@" || rc=$?
  fi
  if [ "$ours" -eq 1 ]; then
    as_root rm -f "$policy"
    trap - EXIT
  fi
  [ "$rc" -eq 0 ] || die "apt-get install $* failed (exit $rc)"
}

deb_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}
