#!/usr/bin/env bash
# scripts/install-systemd.sh — install rabbitmq-preflight's systemd units and an example inventory.
#
#   make install-systemd                      # as root, from the repository
#   PREFLIGHT_BIN=/opt/preflight/bin/preflight scripts/install-systemd.sh
#   DESTDIR=/tmp/stage scripts/install-systemd.sh   # stage into a tree (packaging, tests)
#
# Installs rabbitmq-preflight.{service,timer}, the per-cluster templates rabbitmq-preflight@.{service,timer}
# and rabbitmq-preflight-daemon.service into
# $UNIT_DIR (/etc/systemd/system) with ExecStart pointing at $PREFLIGHT_BIN, and the example
# inventory as /etc/rabbitmq-preflight/inventory.toml unless one is already there (never
# overwritten). Enables nothing: choose the timer or the daemon (see the message at the end).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DESTDIR=${DESTDIR:-}
UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}
CONF_DIR=${CONF_DIR:-/etc/rabbitmq-preflight}
UNITS=(rabbitmq-preflight.service rabbitmq-preflight.timer rabbitmq-preflight-daemon.service
       rabbitmq-preflight@.service rabbitmq-preflight@.timer)

die() { printf 'install-systemd: %s\n' "$*" >&2; exit 1; }

find_bin() {
  if [ -n "${PREFLIGHT_BIN:-}" ]; then echo "$PREFLIGHT_BIN"
  elif [ -x "$HERE/.venv/bin/preflight" ]; then echo "$HERE/.venv/bin/preflight"
  else command -v preflight || true
  fi
}

BIN=$(find_bin)
[ -n "$BIN" ] || die "no preflight executable found; set PREFLIGHT_BIN=/path/to/preflight"
case $BIN in /*) ;; *) die "PREFLIGHT_BIN must be an absolute path (got $BIN)" ;; esac
[ -x "$BIN" ] || [ -n "$DESTDIR" ] || die "$BIN is not executable"
case $BIN in
  /home/*|/root/*|/run/user/*)
    printf 'install-systemd: warning: %s is under a home directory; the units use ProtectHome=yes\n' "$BIN" >&2
    printf '  and will not be able to run it. Install preflight elsewhere (e.g. /opt/rabbitmq-preflight).\n' >&2 ;;
esac
[ -n "$DESTDIR" ] || [ "$(id -u)" -eq 0 ] || die "run as root (or set DESTDIR to stage the files)"

install -d -m 0755 "$DESTDIR$UNIT_DIR" "$DESTDIR$CONF_DIR"
for unit in "${UNITS[@]}"; do
  sed "s#/usr/local/bin/preflight#$BIN#g" "$HERE/systemd/$unit" > "$DESTDIR$UNIT_DIR/$unit.tmp"
  chmod 0644 "$DESTDIR$UNIT_DIR/$unit.tmp"
  mv -f "$DESTDIR$UNIT_DIR/$unit.tmp" "$DESTDIR$UNIT_DIR/$unit"
  echo "installed $DESTDIR$UNIT_DIR/$unit"
done
install -m 0644 "$HERE/systemd/inventory.example.toml" "$DESTDIR$CONF_DIR/inventory.example.toml"
if [ -e "$DESTDIR$CONF_DIR/inventory.toml" ]; then
  echo "kept existing $DESTDIR$CONF_DIR/inventory.toml"
else
  install -m 0644 "$HERE/systemd/inventory.example.toml" "$DESTDIR$CONF_DIR/inventory.toml"
  echo "installed $DESTDIR$CONF_DIR/inventory.toml (example: edit it)"
fi

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi

cat <<MSG

Next:
  1. Edit $CONF_DIR/inventory.toml (nodes, expectations); keep cookie_file/password_file out of it.
  2. Management password (if [management] is set): install -m 0600 /dev/stdin $CONF_DIR/mgmt-password
     Both units load it and the Erlang cookie with LoadCredential=; delete a LoadCredential= line
     whose file does not exist on this host (e.g. the cookie on a host that runs no node).
  3. Either the timer:   systemctl enable --now rabbitmq-preflight.timer
     or one per cluster:  $CONF_DIR/NAME.toml, its secrets in $CONF_DIR/NAME/, then
                          systemctl enable --now rabbitmq-preflight@NAME.timer
     or the daemon:      systemctl enable --now rabbitmq-preflight-daemon.service
                         curl -s 127.0.0.1:9419/healthz; journalctl -u rabbitmq-preflight-daemon -o cat | jq
MSG
