#!/usr/bin/env bash
# lab/cluster.sh - rabbitmq-preflight's lab: a real multi-host RabbitMQ cluster on one Linux machine.
#
# A lab "host" rabbitN is a set of three persistent namespaces, no container image involved:
#   net   /run/netns/rabbitN   own lo + eth0 198.18.0.(10+N)/24 (veth on bridge pflab0 = 198.18.0.1),
#                              no default route, own iptables, own epmd and ports 4369/5672/15672/25672
#   uts   $LAB/ns/rabbitN.uts  hostname rabbitN, so the node is rabbit@rabbitN (Debian default name)
#   mount $LAB/ns/rabbitN.mnt  private bind mounts over /etc/hosts, /etc/hostname, /etc/resolv.conf,
#                              /etc/nsswitch.conf (hosts: files), /etc/rabbitmq, /var/lib/rabbitmq,
#                              /var/log/rabbitmq; $LAB itself is hidden (tmpfs) inside a host.
#                              Everything else (e.g. the repository) is the machine's own tree.
# `exec HOST CMD` enters all three with nsenter. See lab/README.md; `lab/cluster.sh help` for commands.
#
# The script never takes /tmp/preflight-lab.lock: callers (the test-suite) hold it around their use.
# A && B || die ... is meant as written: die when any step fails.
# shellcheck disable=SC2015
set -u -o pipefail

ME=lab/cluster.sh
LAB=${PREFLIGHT_LAB_BASE:-/tmp/preflight-lab}
NET=198.18.0                                   # a /24 of the benchmarking range, never routed anywhere
BR=pflab0                                      # root-side bridge, $NET.1
VETH=pfl-                                      # root-side veth prefix: pfl-rabbitN
CHAIN=PFLAB-FAULT                              # iptables chain (filter/INPUT) for faults, per host
COOKIE=${PREFLIGHT_LAB_COOKIE:-PREFLIGHT-LAB-COOKIE-LABONLY-001}
BAD_COOKIE=${PREFLIGHT_LAB_BAD_COOKIE:-WRONG-COOKIE-PREFLIGHT-LAB-99999}
BOOT_TIMEOUT=${PREFLIGHT_LAB_BOOT_TIMEOUT:-180}
MAX_HOSTS=88                                   # 198.18.0.11 .. .98; .99 is the default "wrong" address
WRONG_IP=$NET.99
OPLOCK=$LAB.cmd.lock                           # serializes up/down/heal/fault of this script
MARK=.preflight-lab                            # marker file: only a dir holding it is ever rm -rf'ed

# Nothing from the caller's RabbitMQ/Erlang environment may reach a lab host.
for _v in $(compgen -e); do
  case $_v in RABBITMQ_*|ERL_*|ERLANG_*) unset "$_v" ;; esac
done
unset _v
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin:/sbin ;; esac
export PATH

# ---------------------------------------------------------------------------------------------- helpers
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '%s: %s\n' "$ME" "$*" >&2; exit 1; }

hosts_list() { cat "$LAB/hosts" 2>/dev/null; }
extra_list() { cat "$LAB/standalone" 2>/dev/null; }   # hosts added with `add`: not part of the lab cluster
all_hosts() { hosts_list; extra_list; }
host_count() { hosts_list | wc -l; }
num_of() { echo "${1#rabbit}"; }
ip_of() { echo "$NET.$((10 + $(num_of "$1")))"; }
node_of() { echo "rabbit@$1"; }
seed() { hosts_list | head -n 1; }
is_host() { [ -n "$1" ] && grep -qx -- "$1" "$LAB/hosts" 2>/dev/null; }
need_lab() { [ -f "$LAB/hosts" ] || die "no lab is up (state $LAB/hosts missing); run: $ME up"; }
is_extra() { [ -n "$1" ] && grep -qx -- "$1" "$LAB/standalone" 2>/dev/null; }
need_host() {
  need_lab; is_host "$1" || is_extra "$1" || die "unknown lab host '$1' (hosts: $(all_hosts | xargs))"
}
hdir() { echo "$LAB/$1"; }
ram_wanted() { grep -qx -- "$1" "$LAB/ram-nodes" 2>/dev/null; }
want_type() { if ram_wanted "$1"; then echo ram; else echo disc; fi; }

# Run a command "on" a host: its network, mount and UTS namespaces (cwd /).
hexec() {
  local h=$1; shift
  nsenter --net="/run/netns/$h" --mount="$LAB/ns/$h.mnt" --uts="$LAB/ns/$h.uts" --wd=/ -- "$@"
}
hctl() { local h=$1; shift; hexec "$h" env LC_ALL=C.UTF-8 LANG=C.UTF-8 rabbitmqctl "$@"; }
hnet() { local h=$1; shift; nsenter --net="/run/netns/$h" -- "$@"; }

# Management API of a host, from the root namespace (never through a proxy).
api() { # api HOST PATH -> body on stdout, curl's status
  curl -sf --noproxy '*' -m "${API_TIMEOUT:-2}" -u guest:guest "http://$(ip_of "$1"):15672$2"
}
api_up() { API_TIMEOUT=${2:-2} api "$1" /api/overview >/dev/null; }
# "name type running partitions" per cluster member, as seen by HOST's node
api_nodes() {
  api "$1" '/api/nodes?columns=name,type,running,partitions' | python3 -c '
import json, sys
try:
    nodes = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
for n in sorted(nodes, key=lambda n: n.get("name", "")):
    print(n.get("name"), n.get("type"), "running" if n.get("running") else "down",
          len(n.get("partitions") or []))'
}

# Processes of the lab: everything living in a host's network namespace was started by the lab.
ns_pids() { [ -e "/run/netns/$1" ] && ip netns pids "$1" 2>/dev/null; }
node_pid() { # the RabbitMQ node's Erlang VM (CLI tools are beam.smp too, without "-s rabbit boot")
  local p
  for p in $(ns_pids "$1"); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = beam.smp ] || continue
    tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- '-s rabbit boot' && echo "$p"
  done
}

# /etc/hosts of every lab host as it should be
canonical_hosts() {
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
  local h
  for h in $(all_hosts); do printf '%s\t%s\n' "$(ip_of "$h")" "$h"; done
}
# Files bind-mounted into a host must be rewritten in place (same inode), never replaced.
write_inplace() { # write_inplace FILE CONTENT
  [ "$(cat "$1" 2>/dev/null)" = "$2" ] || printf '%s\n' "$2" > "$1"
}
host_cookie() { cat "$(hdir "$1")/var-lib-rabbitmq/.erlang.cookie" 2>/dev/null; }
set_cookie() { # set_cookie HOST VALUE
  local f; f=$(hdir "$1")/var-lib-rabbitmq/.erlang.cookie
  rm -f "$f"; printf '%s' "$2" > "$f"; chown rabbitmq:rabbitmq "$f"; chmod 0400 "$f"
}
fault_rules() { hnet "$1" iptables -w -S "$CHAIN" 2>/dev/null | grep -- '^-A '; }

rabbitmq_series() { # "3.10" from the installed package version, e.g. 3.10.8-1.1+deb12u1
  dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null | sed -E 's/^[0-9]+://; s/^([0-9]+\.[0-9]+).*/\1/'
}

# ------------------------------------------------------------------------------------------ inventory
inventory_text() { # inventory_text COOKIE_FILE PASSWORD_FILE
  local h
  cat <<EOF
# rabbitmq-preflight inventory of the netns lab (written by $ME; LAB ONLY)
[cluster]
name = "lab"
probe_timeout = 2.0
deadline = 15.0
cookie_file = "$1"

[management]
user = "guest"
password_file = "$2"
scheme = "http"
EOF
  for h in $(hosts_list); do
    printf '\n[[nodes]]\nname = "%s"\naddress = "%s"\ntype = "%s"\n' "$(node_of "$h")" "$(ip_of "$h")" "$(want_type "$h")"
  done
  printf '\n[expect]\nrabbitmq = "%s"\n' "$(rabbitmq_series)"
}
write_file() { # write_file PATH MODE CONTENT  (atomic replace; not for bind-mounted files)
  local tmp; tmp=$(mktemp "$1.XXXXXX") || return 1
  printf '%s' "$3" > "$tmp" && chmod "$2" "$tmp" && mv -f "$tmp" "$1"
}
write_inventory() {
  local h d
  write_file "$LAB/cookie" 0400 "$COOKIE"
  write_file "$LAB/mgmt-password" 0600 guest
  local ssh_section=''
  if have_sshd && [ -f "$LAB/ssh/id_ed25519" ]; then
    ssh_section=$'\n[ssh]\nuser = "root"\nidentity_file = "'"$LAB/ssh/id_ed25519"$'"\nknown_hosts_file = "'"$LAB/ssh/known_hosts"$'"\n'
  fi
  write_file "$LAB/inventory.toml" 0644 "$(inventory_text "$LAB/cookie" "$LAB/mgmt-password")"$'\n'"$ssh_section"
  for h in $(hosts_list); do
    d=$(hdir "$h")/etc-rabbitmq
    [ -d "$d" ] || continue
    write_file "$d/preflight-mgmt-password" 0600 guest
    write_file "$d/preflight.toml" 0644 \
      "$(inventory_text /var/lib/rabbitmq/.erlang.cookie /etc/rabbitmq/preflight-mgmt-password)"$'\n'
  done
}

# ----------------------------------------------------------------------------------------------- nodes
start_node() { # the node daemonizes: it must not inherit the caller's fds (e.g. a flock(1) lock fd)
  (
    for fd in /proc/"$BASHPID"/fd/*; do
      fd=${fd##*/}
      [[ $fd =~ ^[0-9]+$ ]] && [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done
    hexec "$1" rabbitmq-server -detached
  ) </dev/null >/dev/null 2>&1
}
# --------------------------------------------------------------------------------------- sshd (--ssh)
# Every host runs its own sshd (Debian's openssh-server) so `preflight check --ssh` works from the root
# namespace. LAB ONLY: one key pair, generated at `up` time, never committed; root logs in with it.
# The client side lives in $LAB/ssh (hidden inside the hosts); what sshd reads lives in $SSHD_DIR,
# which the hosts see (only $LAB itself is hidden there).
SSHD_DIR=$LAB-sshd
have_sshd() { [ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null 2>&1; }
sshd_pid() { # the sshd listening in HOST's network namespace, from its pid file
  local p; p=$(cat "$SSHD_DIR/$1/sshd.pid" 2>/dev/null) || return 1
  [ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sshd ] && echo "$p"
}
ssh_keys() { # the lab's client key, host key and known_hosts (made once per lab)
  mkdir -p "$LAB/ssh" "$SSHD_DIR" && chmod 0700 "$LAB/ssh" "$SSHD_DIR" && touch "$SSHD_DIR/$MARK" || return 1
  [ -f "$LAB/ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C preflight-lab-only -f "$LAB/ssh/id_ed25519" || return 1
  [ -f "$SSHD_DIR/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C preflight-lab-host -f "$SSHD_DIR/ssh_host_ed25519_key" || return 1
  local h; for h in $(all_hosts); do
    printf '%s %s\n' "$(ip_of "$h")" "$(cut -d' ' -f1-2 "$SSHD_DIR/ssh_host_ed25519_key.pub")"
  done > "$LAB/ssh/known_hosts"
}
start_sshd() { # start_sshd HOST: (re)write its config and key, start it unless it runs
  local h=$1 d="$SSHD_DIR/$1"
  have_sshd || return 0
  ssh_keys || return 1
  mkdir -p "$d" /run/sshd && chmod 0700 "$d" || return 1
  cp "$LAB/ssh/id_ed25519.pub" "$d/authorized_keys" && chmod 0600 "$d/authorized_keys" || return 1
  cat > "$d/sshd_config" <<EOF
# preflight lab host $h -- LAB ONLY
ListenAddress $(ip_of "$h"):22
HostKey $SSHD_DIR/ssh_host_ed25519_key
AuthorizedKeysFile $d/authorized_keys
PidFile $d/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
PrintMotd no
MaxStartups 100
EOF
  # The hosts share this machine's /root, and sshd's login shell (`bash -c`, run "by sshd") sources
  # ~/.bashrc: here a developer's (pyenv init, ~0.1 s of CPU per session), which no RabbitMQ host has.
  # Each host gets root's ~/.bashrc of its own, a comment, bound in its mount namespace.
  printf '# preflight lab host %s: root%ss ~/.bashrc, nothing to run -- LAB ONLY\n' "$h" "'" > "$d/bashrc"
  # shellcheck disable=SC2016  # the script gets its value as an argument
  hexec "$h" sh -c '[ ! -f /root/.bashrc ] || mountpoint -q /root/.bashrc || mount --bind "$1" /root/.bashrc' \
    sh "$d/bashrc" || return 1
  [ -n "$(sshd_pid "$h")" ] && { kill -CONT "$(sshd_pid "$h")" 2>/dev/null; return 0; }
  (
    for fd in /proc/"$BASHPID"/fd/*; do
      fd=${fd##*/}
      [[ $fd =~ ^[0-9]+$ ]] && [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done
    hexec "$h" /usr/sbin/sshd -f "$d/sshd_config"
  ) </dev/null >/dev/null 2>&1
  for _ in $(seq 1 20); do [ -n "$(sshd_pid "$h")" ] && return 0; sleep 0.1; done
  log "sshd on $h did not start"; return 1
}

# A node's runtime metrics (mem_alarm, fd_used, …) appear in /api/nodes only once it has emitted its
# first statistics, a few seconds after its API answers: a node is "running" for the lab from then on.
stats_up() { api "$1" "/api/nodes/$(node_of "$1")?columns=mem_alarm" 2>/dev/null | grep -q mem_alarm; }
wait_running() { # wait_running HOST [TIMEOUT]: until the node's management API answers with its metrics
  local h=$1 t=${2:-$BOOT_TIMEOUT} t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$t" ]; do
    api_up "$h" 1 && stats_up "$h" && return 0
    if [ -z "$(node_pid "$h")" ] && [ $((SECONDS - t0)) -gt 10 ]; then
      log "$h: node is not running; see $(hdir "$h")/var-log-rabbitmq/"; return 1
    fi
    sleep 0.5
  done
  log "$h: node not running after ${t}s; see $(hdir "$h")/var-log-rabbitmq/"; return 1
}
kill_node() { # SIGTERM (graceful stop of the VM), SIGKILL after 30 s
  local h=$1 p
  p=$(node_pid "$h"); [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null
  for _ in $(seq 1 60); do [ -d "/proc/$p" ] || return 0; sleep 0.5; done
  log "$h: SIGKILL $p"; kill -KILL "$p" 2>/dev/null; sleep 0.5
}
stop_node() { # the operator way (rabbitmqctl stop); SIGTERM if the node cannot be stopped so
  local h=$1 p
  p=$(node_pid "$h"); [ -n "$p" ] || return 0
  if api_up "$h" 1; then
    hexec "$h" timeout 60 env LC_ALL=C.UTF-8 rabbitmqctl -q stop >/dev/null 2>&1 || kill -TERM "$p" 2>/dev/null
  else # still booting (e.g. waiting for Mnesia tables): `rabbitmqctl stop` could block
    kill -TERM "$p" 2>/dev/null
  fi
  for _ in $(seq 1 60); do [ -d "/proc/$p" ] || return 0; sleep 0.5; done
  kill_node "$h"
}
app_stopped() { # VM up, app stopped (stop_app), not booting
  [ -n "$(node_pid "$1")" ] || return 1
  [ "$(hexec "$1" timeout 30 env LC_ALL=C.UTF-8 rabbitmqctl -q eval 'rabbit_boot_state:get().' 2>/dev/null)" = stopped ]
}
ctl_logged() { # ctl_logged HOST ARGS...: rabbitmqctl with output kept in the host's ops.log
  local h=$1 f rc; shift
  f=$(hdir "$h")/ops.log
  printf '# %s rabbitmqctl %s\n' "$(date +%T)" "$*" >> "$f"
  timeout "$BOOT_TIMEOUT" env LC_ALL=C.UTF-8 nsenter --net="/run/netns/$h" --mount="$LAB/ns/$h.mnt" \
    --uts="$LAB/ns/$h.uts" --wd=/ -- rabbitmqctl "$@" >> "$f" 2>&1
  rc=$?
  [ $rc = 0 ] || { log "$h: rabbitmqctl $* failed ($rc):"; tail -n 5 "$f" | sed 's/^/    /' >&2; }
  return $rc
}
set_type() { # set_type HOST disc|ram  (the app is started again even if the change fails)
  ctl_logged "$1" stop_app || return 1
  if ! ctl_logged "$1" change_cluster_node_type "$2"; then ctl_logged "$1" start_app; return 1; fi
  ctl_logged "$1" start_app && wait_running "$1" 60
}
join_to() { # join_to HOST SEEDHOST: stop_app, reset, join_cluster [--ram], start_app
  local h=$1 s=$2 flag=()
  ram_wanted "$h" && flag=(--ram)
  ctl_logged "$h" stop_app && ctl_logged "$h" reset &&
    ctl_logged "$h" join_cluster "${flag[@]}" "$(node_of "$s")" && ctl_logged "$h" start_app
}

# ---------------------------------------------------------------------------------------------- health
# Prints nothing and succeeds when the lab is exactly as `up` leaves it; otherwise prints the reasons.
health() {
  local want=${1:-} h expected got out=() n
  [ -f "$LAB/hosts" ] || { echo "no lab state"; return 1; }
  n=$(host_count)
  [ -z "$want" ] || [ "$n" = "$want" ] || { echo "lab has $n hosts, wanted $want"; return 1; }
  ip link show "$BR" >/dev/null 2>&1 || out+=("bridge $BR missing")
  [ -z "$(extra_list)" ] || out+=("standalone hosts present: $(extra_list | xargs)")
  expected=$(for h in $(hosts_list); do echo "$(node_of "$h") $(want_type "$h") running 0"; done | sort)
  for h in $(hosts_list); do
    if [ ! -e "/run/netns/$h" ] || [ ! -e "$LAB/ns/$h.mnt" ] || [ ! -e "$LAB/ns/$h.uts" ]; then
      out+=("$h: namespaces missing"); continue
    fi
    [ "$(cat "$(hdir "$h")/etc/hosts" 2>/dev/null)" = "$(canonical_hosts)" ] || out+=("$h: /etc/hosts differs")
    [ "$(host_cookie "$h")" = "$COOKIE" ] || out+=("$h: cookie differs")
    [ -z "$(fault_rules "$h")" ] || out+=("$h: iptables fault rules active")
    if have_sshd; then
      [ -n "$(sshd_pid "$h")" ] && [ "$(ps -o state= -p "$(sshd_pid "$h")" | tr -d ' ')" != T ] || out+=("$h: sshd not running")
      cmp -s "$SSHD_DIR/$h/authorized_keys" "$LAB/ssh/id_ed25519.pub" || out+=("$h: sshd does not accept the lab key")
      [ ! -f /root/.bashrc ] || hexec "$h" mountpoint -q /root/.bashrc || out+=("$h: root's ~/.bashrc is this machine's")
    fi
    got=$(api_nodes "$h" 2>/dev/null | sort)
    stats_up "$h" || out+=("$h: no runtime metrics in /api/nodes yet")
    if [ -z "$got" ]; then out+=("$h: management API not answering")
    elif [ "$got" != "$expected" ]; then out+=("$h sees: $(echo "$got" | paste -sd ';')")
    fi
  done
  [ ${#out[@]} = 0 ] && return 0
  printf '%s\n' "${out[@]}"; return 1
}

# -------------------------------------------------------------------------------------------------- up
require_root() {
  [ "$(id -u)" = 0 ] && return 0
  echo "$ME: must run as root (network namespaces); try: sudo $ME up" >&2; exit 2
}
require_tools() {
  local c pkgs=() missing=()
  for c in rabbitmq-server:rabbitmq-server rabbitmqctl:rabbitmq-server iptables:iptables ip:iproute2 \
           nsenter:util-linux unshare:util-linux mountpoint:util-linux curl:curl python3:python3 \
           dpkg-query:dpkg; do
    command -v "${c%%:*}" >/dev/null 2>&1 && continue
    missing+=("${c%%:*}")
    case " ${pkgs[*]} " in *" ${c#*:} "*) ;; *) pkgs+=("${c#*:}") ;; esac
  done
  [ ${#missing[@]} = 0 ] && return 0
  echo "$ME: missing: ${missing[*]}; install with: apt-get install -y ${pkgs[*]}" >&2; exit 2
}
check_config() {
  case $LAB in /?*/?*) ;; *) die "PREFLIGHT_LAB_BASE must be an absolute path below a top-level dir: '$LAB'" ;; esac
  case $LAB in *[[:space:]\"\\]*) die "PREFLIGHT_LAB_BASE must not contain spaces, quotes or backslashes" ;; esac
  local c
  for c in "$COOKIE" "$BAD_COOKIE"; do
    [[ $c =~ ^[A-Za-z0-9._-]{8,255}$ ]] || die "lab cookies must be 8..255 chars of [A-Za-z0-9._-]"
  done
  [ "$COOKIE" != "$BAD_COOKIE" ] || die "PREFLIGHT_LAB_BAD_COOKIE must differ from the lab cookie"
}
parse_ram_nodes() { # parse_ram_nodes N -> validated list on stdout
  local n=$1 h
  for h in ${LAB_RAM_NODES:-}; do
    [[ $h =~ ^rabbit([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] && [ "${BASH_REMATCH[1]}" -le "$n" ] ||
      die "LAB_RAM_NODES: '$h' is not a lab host (rabbit1..rabbit$n)"
    [ "$h" != rabbit1 ] || die "LAB_RAM_NODES: rabbit1 is the seed and must stay a disc node"
    echo "$h"
  done | sort -u
}

mk_host() {
  local h=$1 d ip
  d=$(hdir "$h"); ip=$(ip_of "$h")
  mkdir -p "$d/etc" "$d/etc-rabbitmq" "$d/var-lib-rabbitmq/mnesia" "$d/var-log-rabbitmq" || return 1
  canonical_hosts > "$d/etc/hosts"
  echo "$h" > "$d/etc/hostname"
  # names come from /etc/hosts only; a nameserver on the host's own lo as a backstop: no DNS leaves
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "$d/etc/resolv.conf"
  sed -E 's/^hosts:.*/hosts:          files/' /etc/nsswitch.conf > "$d/etc/nsswitch.conf"
  grep -q '^hosts:' "$d/etc/nsswitch.conf" || echo 'hosts:          files' >> "$d/etc/nsswitch.conf"
  cat > "$d/etc-rabbitmq/rabbitmq.conf" <<EOF
# preflight lab host $h -- LAB ONLY: guest/guest may log in from any address
loopback_users = none
cluster_name = lab
EOF
  echo '[rabbitmq_management].' > "$d/etc-rabbitmq/enabled_plugins"
  chown -R rabbitmq:rabbitmq "$d/etc-rabbitmq" "$d/var-lib-rabbitmq" "$d/var-log-rabbitmq"
  chmod 0750 "$d/var-lib-rabbitmq/mnesia"
  set_cookie "$h" "$COOKIE"

  ip netns add "$h" || return 1
  ip link add "$VETH$h" type veth peer name eth0 netns "$h" || return 1
  ip link set "$VETH$h" master "$BR" up || return 1
  ip -n "$h" link set lo up && ip -n "$h" addr add "$ip/24" dev eth0 && ip -n "$h" link set eth0 up || return 1
  hnet "$h" iptables -w -N "$CHAIN" && hnet "$h" iptables -w -I INPUT -j "$CHAIN" || return 1

  touch "$LAB/ns/$h.mnt" "$LAB/ns/$h.uts" || return 1
  # shellcheck disable=SC2016  # the script gets its values as arguments
  unshare --mount="$LAB/ns/$h.mnt" --uts="$LAB/ns/$h.uts" --propagation private \
    /bin/sh -ec '
      h=$1 d=$2 lab=$3
      hostname "$h"
      umount -l "$lab/ns"
      for f in hosts hostname resolv.conf nsswitch.conf; do mount --bind "$d/etc/$f" "/etc/$f"; done
      mount --bind "$d/etc-rabbitmq" /etc/rabbitmq
      mount --bind "$d/var-lib-rabbitmq" /var/lib/rabbitmq
      mount --bind "$d/var-log-rabbitmq" /var/log/rabbitmq
      mount -t tmpfs -o size=64k,mode=0700 preflight-lab-hidden "$lab"
    ' sh "$h" "$d" "$LAB"
}

fresh_up() {
  local n=$1 ram=$2 t0 t1 h s pids=() rc=0 why
  t0=$(now)
  ip link show "$BR" >/dev/null 2>&1 && die "bridge $BR exists without lab state in $LAB (another PREFLIGHT_LAB_BASE?)"
  ip -o addr show | grep -q " $NET\.1/" && die "$NET.1 is already assigned to an interface (another lab is up?)"
  for h in $(seq 1 "$n"); do
    [ -e "/run/netns/rabbit$h" ] && die "network namespace rabbit$h exists but is not part of this lab; remove it first"
  done
  if [ -d "$LAB" ] && [ -n "$(ls -A "$LAB")" ] && [ ! -e "$LAB/$MARK" ]; then
    die "$LAB exists and is not a lab directory; set PREFLIGHT_LAB_BASE elsewhere"
  fi
  mkdir -p "$LAB/ns" && touch "$LAB/$MARK" && chmod 0700 "$LAB" || die "cannot create $LAB"
  for h in $(seq 1 "$n"); do echo "rabbit$h"; done > "$LAB/hosts"
  printf '%s' "$ram${ram:+$'\n'}" > "$LAB/ram-nodes"
  mountpoint -q "$LAB/ns" || mount --bind "$LAB/ns" "$LAB/ns" || die "cannot bind-mount $LAB/ns"
  mount --make-private "$LAB/ns" || die "cannot make $LAB/ns private"
  ip link add "$BR" type bridge && ip addr add "$NET.1/24" dev "$BR" && ip link set "$BR" up ||
    die "cannot create bridge $BR"
  # with br_netfilter, bridged frames traverse the root FORWARD chain: keep lab traffic flowing
  if ! iptables -w -S FORWARD 2>/dev/null | grep -qx -- '-P FORWARD ACCEPT'; then
    iptables -w -I FORWARD -i "$BR" -o "$BR" -m comment --comment preflight-lab -j ACCEPT
  fi
  for h in $(hosts_list); do mk_host "$h" || die "cannot create host $h"; done
  for h in $(hosts_list); do start_sshd "$h" || die "cannot start sshd on $h"; done
  write_inventory
  log "up: namespaces and network for $n hosts in $(since "$t0") s"

  t1=$(now)
  for h in $(hosts_list); do start_node "$h"; done
  for h in $(hosts_list); do wait_running "$h" || rc=1; done
  [ $rc = 0 ] || die "a node did not boot; run '$ME down' (logs: $LAB/rabbitN/var-log-rabbitmq)"
  log "up: $n nodes booted in $(since "$t1") s"

  # Cluster them the operator way. stop_app + reset run in parallel, the joins one at a time
  # (Mnesia schema changes), then start_app in parallel (RabbitMQ boots peers in parallel anyway).
  t1=$(now); s=$(seed)
  for h in $(hosts_list | tail -n +2); do
    ( ctl_logged "$h" stop_app && ctl_logged "$h" reset ) & pids+=($!)
  done
  for h in "${pids[@]}"; do wait "$h" || rc=1; done
  [ $rc = 0 ] || die "stop_app/reset failed; see $LAB/rabbitN/ops.log"
  for h in $(hosts_list | tail -n +2); do
    local ram_flag=()
    ram_wanted "$h" && ram_flag=(--ram)
    ctl_logged "$h" join_cluster "${ram_flag[@]}" "$(node_of "$s")" || die "$h could not join $(node_of "$s")"
  done
  pids=()
  for h in $(hosts_list | tail -n +2); do ctl_logged "$h" start_app & pids+=($!); done
  for h in "${pids[@]}"; do wait "$h" || rc=1; done
  [ $rc = 0 ] || die "start_app failed after join; see $LAB/rabbitN/ops.log"
  log "up: clustering took $(since "$t1") s"

  for _ in $(seq 1 60); do why=$(health "$n") && break; sleep 0.5; done
  [ -z "$why" ] || die "lab is up but not healthy: $(echo "$why" | paste -sd ';')"
  echo "up: $n-node lab ready in $(since "$t0") s ($(hosts_list | xargs); inventory $LAB/inventory.toml)"
}

cmd_up() {
  local n=${1:-3} ram t0 why
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le "$MAX_HOSTS" ] || die "N must be 1..$MAX_HOSTS"
  ram=$(parse_ram_nodes "$n") || exit 1
  t0=$(now)
  if [ -f "$LAB/hosts" ] || ip link show "$BR" >/dev/null 2>&1; then
    if [ -f "$LAB/hosts" ] && [ "$(host_count)" = "$n" ]; then
      printf '%s' "$ram${ram:+$'\n'}" > "$LAB/ram-nodes"
      if why=$(health "$n"); then
        write_inventory
        echo "up: reusing the healthy $n-node lab ($(hosts_list | xargs)) checked in $(since "$t0") s"
        return 0
      fi
      log "up: existing lab is not healthy ($(echo "$why" | paste -sd ';')): healing"
      if cmd_heal; then
        echo "up: reusing the $n-node lab after heal, ready in $(since "$t0") s"; return 0
      fi
      log "up: heal failed: tearing the lab down and starting afresh"
    else
      log "up: existing lab has $(host_count) hosts, wanted $n: tearing it down"
    fi
    cmd_down >&2
  fi
  fresh_up "$n" "$ram"
}

# ------------------------------------------------------------------------------------------------ down
cmd_down() {
  local t0 h p left
  t0=$(now)
  if [ ! -e "$LAB/$MARK" ] && ! ip link show "$BR" >/dev/null 2>&1; then
    echo "down: no lab to remove"; return 0
  fi
  for h in $(all_hosts); do p=$(node_pid "$h"); [ -z "$p" ] || kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 1 12); do   # 3 s for a graceful stop, then signals: the data goes away anyway
    left=0
    for h in $(all_hosts); do [ -z "$(node_pid "$h")" ] || left=1; done
    [ $left = 0 ] && break
    sleep 0.25
  done
  # epmd, CLI tools, `exec`ed commands: everything in the lab's network namespaces is the lab's
  for h in $(all_hosts); do for p in $(ns_pids "$h"); do kill -KILL "$p" 2>/dev/null; done; done
  for _ in $(seq 1 20); do
    left=0
    for h in $(all_hosts); do [ -z "$(ns_pids "$h")" ] || left=1; done
    [ $left = 0 ] && break
    sleep 0.25
  done
  for h in $(all_hosts); do
    [ -e "/run/netns/$h" ] && ip netns del "$h"
    ip link del "$VETH$h" 2>/dev/null
    umount "$LAB/ns/$h.mnt" "$LAB/ns/$h.uts" 2>/dev/null
  done
  ip link del "$BR" 2>/dev/null
  while iptables -w -D FORWARD -i "$BR" -o "$BR" -m comment --comment preflight-lab -j ACCEPT 2>/dev/null; do :; done
  if [ -e "$LAB/$MARK" ]; then
    mountpoint -q "$LAB/ns" && umount "$LAB/ns"
    if findmnt -rn -o TARGET | grep -q "^$LAB/"; then
      die "down: something is still mounted below $LAB; not removing it"
    fi
    rm -rf "$LAB"
  fi
  [ -e "$SSHD_DIR/$MARK" ] && rm -rf "$SSHD_DIR"
  echo "down: lab removed in $(since "$t0") s"
}

# ------------------------------------------------------------------------------------------------ heal
fix_cluster() { # one pass: re-join non-members, restart cut-off/partitioned nodes, fix node types
  local h s c ref="" best=0 view members running rc=0
  # reference view: the node that sees the most running members
  for h in $(hosts_list); do
    c=$(api_nodes "$h" 2>/dev/null | grep -c ' running ')
    [ "${c:-0}" -gt "$best" ] && { best=$c; ref=$h; }
  done
  [ -n "$ref" ] || { log "heal: no node answers /api/nodes"; return 1; }
  view=$(api_nodes "$ref")
  members=$(echo "$view" | awk '{print $1}')
  running=$(echo "$view" | awk '$3 == "running" {print $1}')
  for h in $(hosts_list); do
    s=$(node_of "$h")
    if ! grep -qx "$s" <<<"$members"; then
      log "heal: $h is not a member of $(node_of "$ref")'s cluster: joining it"
      join_to "$h" "$ref" || rc=1
    elif ! grep -qx "$s" <<<"$running" || [ "$(echo "$view" | awk -v n="$s" '$1 == n {print $4}')" != 0 ]; then
      log "heal: $h is cut off from $(node_of "$ref") or partitioned: stop_app / start_app"
      ctl_logged "$h" stop_app && ctl_logged "$h" start_app || rc=1
    fi
  done
  # partitions seen from the reference side: restart the nodes it is partitioned from
  for h in $(hosts_list); do
    [ "$h" = "$ref" ] && continue
    if api "$ref" "/api/nodes/$(node_of "$ref")?columns=partitions" 2>/dev/null | grep -q "\"$(node_of "$h")\""; then
      log "heal: $(node_of "$ref") reports a partition with $h: stop_app / start_app on $h"
      ctl_logged "$h" stop_app && ctl_logged "$h" start_app || rc=1
    fi
  done
  # node types as wanted (LAB_RAM_NODES)
  view=$(api_nodes "$ref")
  for h in $(hosts_list); do
    c=$(echo "$view" | awk -v n="$(node_of "$h")" '$1 == n {print $2}')
    if [ -n "$c" ] && [ "$c" != "$(want_type "$h")" ]; then
      log "heal: $h: $c -> $(want_type "$h") node"
      set_type "$h" "$(want_type "$h")" || rc=1
    fi
  done
  return $rc
}

cmd_heal() {
  need_lab
  local t0 h rc=0 why want_ram
  t0=$(now)
  if [ -n "${LAB_RAM_NODES+set}" ]; then   # default: the RAM nodes of the last `up`
    want_ram=$(parse_ram_nodes "$(host_count)") || return 1
    printf '%s' "$want_ram${want_ram:+$'\n'}" > "$LAB/ram-nodes"
  fi
  ip link show "$BR" >/dev/null 2>&1 || { log "heal: bridge $BR is missing"; return 1; }
  for h in $(extra_list); do log "heal: removing standalone host $h"; remove_host "$h" || rc=1; done
  for h in $(hosts_list); do
    if [ ! -e "/run/netns/$h" ] || [ ! -e "$LAB/ns/$h.mnt" ] || [ ! -e "$LAB/ns/$h.uts" ]; then
      log "heal: $h: namespaces missing"; return 1
    fi
    ip link set "$VETH$h" master "$BR" up 2>/dev/null
    hnet "$h" iptables -w -F "$CHAIN" 2>/dev/null
    write_inplace "$(hdir "$h")/etc/hosts" "$(canonical_hosts)"
    start_sshd "$h" || rc=1
    chmod 0400 "$(hdir "$h")/var-lib-rabbitmq/.erlang.cookie" 2>/dev/null
    if [ "$(host_cookie "$h")" != "$COOKIE" ]; then
      log "heal: $h: restoring the cookie (stop, fix, start)"
      kill_node "$h"; set_cookie "$h" "$COOKIE"
    fi
  done
  # nodes that are down start together (a stopped disc node may wait for its peers' tables)
  local started=" "
  for h in $(hosts_list); do
    [ -n "$(node_pid "$h")" ] && continue
    log "heal: $h: starting the node"; start_node "$h"; started+="$h "
  done
  for h in $(hosts_list); do
    case $started in *" $h "*) continue ;; esac
    api_up "$h" 1 && continue
    if app_stopped "$h"; then log "heal: $h: start_app"; ctl_logged "$h" start_app || rc=1; fi
  done
  for h in $(hosts_list); do wait_running "$h" || rc=1; done
  [ $rc = 0 ] || { log "heal: a node does not run"; return 1; }

  # membership, partitions and node types; partitions may only show up once links are back: retry
  local round
  for round in 1 2 3; do
    fix_cluster || rc=1
    for _ in $(seq 1 40); do why=$(health) && break; sleep 0.5; done
    [ -z "$why" ] && break
    log "heal: round $round left: $(echo "$why" | paste -sd ';')"
  done
  write_inventory
  if [ -n "$why" ]; then
    log "heal: failed after $(since "$t0") s: $(echo "$why" | paste -sd ';')"
    return 1
  fi
  echo "heal: $(host_count) nodes running, clustered, no faults; took $(since "$t0") s"
}

# ---------------------------------------------------------------------------------------------- status
host_faults() {
  local h=$1 f=() r p line ip want_ip
  while read -r r; do
    [ -n "$r" ] || continue
    p=$(sed -nE 's/.*--dport ([0-9]+).*/\1/p' <<<"$r")
    f+=("drop-port:${p:-?}")
  done <<<"$(fault_rules "$h")"
  for p in $(hosts_list); do
    line=$(awk -v p="$p" '$1 !~ /^#/ { for (i = 2; i <= NF; i++) if ($i == p) { print $1; exit } }' "$(hdir "$h")/etc/hosts")
    want_ip=$(ip_of "$p")
    if [ -z "$line" ]; then f+=("hosts:$p-missing")
    elif [ "$line" != "$want_ip" ]; then f+=("hosts:$p=$line")
    fi
  done
  ip=$(cat "$(hdir "$h")/etc/hosts"); [ "${#f[@]}" != 0 ] || [ "$ip" = "$(canonical_hosts)" ] || f+=("hosts:edited")
  [ "$(host_cookie "$h")" = "$COOKIE" ] || f+=("cookie")
  local IFS=,; echo "${f[*]}"
}
cmd_status() {
  if [ ! -f "$LAB/hosts" ]; then echo "lab is down"; return 3; fi
  local h ip hn state type faults types="" rc=0
  for h in $(hosts_list); do api_up "$h" 1 && { types=$(api_nodes "$h" 2>/dev/null); break; }; done
  for h in $(hosts_list); do
    ip=$(ip_of "$h")
    if [ ! -e "/run/netns/$h" ] || [ ! -e "$LAB/ns/$h.uts" ]; then
      printf '%-8s ip=%-12s hostname=%-8s node=%-11s type=%-4s faults=%s\n' "$h" "$ip" - missing - host-missing
      rc=1; continue
    fi
    hn=$(hexec "$h" hostname 2>/dev/null)
    if api_up "$h" 1; then state=running
    elif [ -n "$(node_pid "$h")" ]; then state=not-running   # VM up: booting or app stopped
    else state=stopped; fi
    type=$(awk -v n="$(node_of "$h")" '$1 == n {print $2}' <<<"$types")
    faults=$(host_faults "$h")
    if [ -n "$type" ] && [ "$type" != "$(want_type "$h")" ]; then faults=${faults:+$faults,}$type; fi
    [ "$state" = running ] && [ -z "$faults" ] || rc=1
    printf '%-8s ip=%-12s hostname=%-8s node=%-11s type=%-4s faults=%s\n' \
      "$h" "$ip" "${hn:--}" "$state" "${type:--}" "${faults:-none}"
  done
  return $rc
}

# ---------------------------------------------------------------------------------------------- faults
cmd_fault() {
  local kind=${1:-} h peer wrong="" port content p
  shift || true
  case $kind in
  drop-port)
    h=${1:-}; port=${2:-}; need_host "$h"
    [[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "fault drop-port: bad port '$port'"
    local from=() who="(except from lo)"
    case ${3:-} in
      "") ;;
      --from=*) peer=${3#--from=}; need_host "$peer"; from=(-s "$(ip_of "$peer")"); who="from $peer only" ;;
      *) die "fault drop-port: unknown argument '$3' (--from=PEERHOST)" ;;
    esac
    # like a host firewall: lo is exempt, established connections survive, new ones time out
    hnet "$h" iptables -w -A "$CHAIN" ! -i lo "${from[@]}" -p tcp --dport "$port" -m conntrack --ctstate NEW -j DROP ||
      die "fault drop-port: iptables failed"
    echo "fault drop-port: $h drops new inbound TCP connections to port $port $who"
    ;;
  hosts)
    h=${1:-}; peer=${2:-}; shift 2 2>/dev/null || true
    need_host "$h"; need_host "$peer"
    for p in "$@"; do
      case $p in
        --wrong) wrong=$WRONG_IP ;;
        --wrong=*) wrong=${p#--wrong=} ;;
        *) die "fault hosts: unknown argument '$p'" ;;
      esac
    done
    local f; f=$(hdir "$h")/etc/hosts
    content=$(awk -v p="$peer" '{ for (i = 2; i <= NF; i++) if ($i == p) next; print }' "$f")
    if [ -n "$wrong" ]; then
      [[ $wrong =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] ||
        { [[ $wrong =~ ^198\.18\.0\.([0-9]{1,3})$ ]] && [ "${BASH_REMATCH[1]}" -ge 2 ] && [ "${BASH_REMATCH[1]}" -le 254 ]; } ||
        die "fault hosts: --wrong must be a lab address 198.18.0.2-254 or a loopback address"
      write_inplace "$f" "$content"$'\n'"$wrong"$'\t'"$peer"
      echo "fault hosts: $h's /etc/hosts now maps $peer to $wrong (wrong address)"
    else
      write_inplace "$f" "$content"
      echo "fault hosts: removed $peer from $h's /etc/hosts"
    fi
    ;;
  cookie)
    h=${1:-}; need_host "$h"
    stop_node "$h"; set_cookie "$h" "$BAD_COOKIE"; start_node "$h"
    # wait until the node has registered with its epmd: from then on peers reach it and get rejected
    for _ in $(seq 1 60); do hexec "$h" epmd -names 2>/dev/null | grep -q '^name rabbit ' && break; sleep 0.5; done
    echo "fault cookie: $h restarted with a different Erlang cookie (peers reject it)"
    ;;
  stop)
    h=${1:-}; need_host "$h"
    stop_node "$h"
    [ -z "$(node_pid "$h")" ] || die "fault stop: $h's node is still running"
    echo "fault stop: $h's node stopped (epmd still up)"
    ;;
  start)
    h=${1:-}; need_host "$h"
    [ -n "$(node_pid "$h")" ] || start_node "$h"
    wait_running "$h" || die "fault start: $h's node did not come up"
    echo "fault start: $h's node is running"
    ;;
  ram)
    h=${1:-}; need_host "$h"
    set_type "$h" ram || die "fault ram: could not make $h a RAM node (see $(hdir "$h")/ops.log)"
    echo "fault ram: $h is now a RAM node"
    ;;
  *) die "usage: $ME fault drop-port HOST PORT [--from=PEER] | hosts HOST PEER [--wrong[=IP]] | cookie HOST | stop HOST | start HOST | ram HOST" ;;
  esac
}

# ------------------------------------------------------------------------------ standalone hosts
# `add HOST`: one more host next to the cluster, its node booted on its own (not joined): the node
# an operator is about to `join_cluster`. Every host's /etc/hosts gets its line, as an operator would
# add it. `remove HOST` takes it away again (forgetting it in the cluster if it had joined); `heal`
# and `down` remove every standalone host.
cmd_add() {
  local h=${1:-} cookie=$COOKIE n a
  shift || true
  for a in "$@"; do
    case $a in
      --cookie=*) cookie=${a#--cookie=} ;;
      --bad-cookie) cookie=$BAD_COOKIE ;;
      *) die "add: unknown argument '$a'" ;;
    esac
  done
  need_lab
  [[ $h =~ ^rabbit([0-9]+)$ ]] || die "add: HOST must be rabbitN"
  n=${BASH_REMATCH[1]}
  [ "$n" -gt "$(host_count)" ] && [ "$n" -le "$MAX_HOSTS" ] || die "add: $h must be above the cluster's hosts (rabbit$(( $(host_count) + 1 ))..)"
  is_extra "$h" && { echo "add: $h is already a standalone host"; return 0; }
  [ -e "/run/netns/$h" ] && die "add: network namespace $h exists already"
  [[ $cookie =~ ^[A-Za-z0-9._-]{8,255}$ ]] || die "add: cookies must be 8..255 chars of [A-Za-z0-9._-]"
  local t0; t0=$(now)
  echo "$h" >> "$LAB/standalone"
  mk_host "$h" || die "add: cannot create host $h"
  [ "$cookie" = "$COOKIE" ] || set_cookie "$h" "$cookie"
  for a in $(all_hosts); do write_inplace "$(hdir "$a")/etc/hosts" "$(canonical_hosts)"; done
  start_node "$h"
  wait_running "$h" || die "add: $h's node did not boot (logs: $(hdir "$h")/var-log-rabbitmq)"
  echo "add: $h runs rabbit@$h on its own (not clustered) at $(ip_of "$h"), ready in $(since "$t0") s"
}

remove_host() { # remove_host HOST: forget it in the cluster when it joined, stop it, delete it
  local h=$1 s p
  s=$(seed)
  if api_nodes "$s" 2>/dev/null | awk '{print $1}' | grep -qx "$(node_of "$h")"; then
    ctl_logged "$h" stop_app >/dev/null 2>&1
    ctl_logged "$s" forget_cluster_node "$(node_of "$h")" || log "remove: could not forget $(node_of "$h") on $s"
  fi
  kill_node "$h"
  for p in $(ns_pids "$h"); do kill -KILL "$p" 2>/dev/null; done
  for _ in $(seq 1 20); do [ -z "$(ns_pids "$h")" ] && break; sleep 0.25; done
  [ -e "/run/netns/$h" ] && ip netns del "$h"
  ip link del "$VETH$h" 2>/dev/null
  umount "$LAB/ns/$h.mnt" "$LAB/ns/$h.uts" 2>/dev/null
  rm -f "$LAB/ns/$h.mnt" "$LAB/ns/$h.uts"
  rm -rf "${LAB:?}/$h"
  grep -vx -- "$h" "$LAB/standalone" > "$LAB/standalone.new" 2>/dev/null; mv -f "$LAB/standalone.new" "$LAB/standalone"
  for p in $(all_hosts); do write_inplace "$(hdir "$p")/etc/hosts" "$(canonical_hosts)"; done
}
cmd_remove() {
  local h=${1:-}
  need_lab
  is_extra "$h" || die "remove: '$h' is not a standalone host (standalone: $(extra_list | xargs))"
  remove_host "$h"
  echo "remove: $h removed"
}

# `data HOST`: something for `reset` to destroy: a vhost, a user, a policy and queues with messages.
cmd_data() {
  local h=${1:-} ip q i
  need_host "$h"
  ip=$(ip_of "$h")
  hctl "$h" add_vhost orders >/dev/null && hctl "$h" set_permissions -p orders guest '.*' '.*' '.*' >/dev/null &&
    hctl "$h" add_user app-user app-user-lab-password >/dev/null &&
    hctl "$h" set_policy -p orders keep-a-day '^orders\.' '{"message-ttl":86400000}' --apply-to queues >/dev/null ||
    die "data: rabbitmqctl failed on $h"
  for q in orders.new orders.paid; do
    curl -sf --noproxy '*' -m 5 -u guest:guest -X PUT -H 'content-type: application/json' \
      -d '{"durable":true}' "http://$ip:15672/api/queues/orders/$q" >/dev/null || die "data: cannot declare $q"
    for i in 1 2 3; do
      curl -sf --noproxy '*' -m 5 -u guest:guest -X POST -H 'content-type: application/json' \
        -d "{\"properties\":{\"delivery_mode\":2},\"routing_key\":\"$q\",\"payload\":\"m$i\",\"payload_encoding\":\"string\"}" \
        "http://$ip:15672/api/exchanges/orders/amq.default/publish" >/dev/null || die "data: cannot publish to $q"
    done
  done
  echo "data: $h holds vhost orders, user app-user, policy keep-a-day, queues orders.new and orders.paid (3 messages each)"
}

usage() {
  cat <<EOF
usage: $ME COMMAND    (as root; state in \$PREFLIGHT_LAB_BASE, default /tmp/preflight-lab)
  up [N]                  hosts rabbit1..N (default 3), clustered on rabbit@rabbit1; reuses a healthy lab
                          (LAB_RAM_NODES="rabbit3 ..." joins those as RAM nodes)
  down                    stop everything the lab started, remove namespaces, bridge and files
  status                  one line per host; exit 0 healthy, 1 degraded, 3 no lab
  heal                    undo every fault, verify N running nodes, no partitions
  exec HOST CMD...        run CMD on HOST (its network, mount and UTS namespaces)
  ctl HOST ARGS...        rabbitmqctl ARGS on HOST
  shell HOST              interactive shell on HOST
  inventory               path of the root-namespace inventory (TOML)
  fault drop-port HOST PORT           HOST's firewall drops new inbound TCP connections to PORT
  fault hosts HOST PEER [--wrong[=IP]] remove PEER from HOST's /etc/hosts (or map it to IP, default $WRONG_IP)
  fault cookie HOST                   restart HOST's node with a different cookie
  fault stop HOST | fault start HOST  stop HOST's node (epmd stays) / start it and wait
  fault ram HOST                      make HOST a RAM node
  add HOST [--bad-cookie|--cookie=V]  one more host rabbitN (N above the cluster's) whose node runs on its
                          own, not joined: the node about to join_cluster; every host's /etc/hosts gets its line
  data HOST               put a vhost, a user, a policy and 6 messages on HOST (what `reset` destroys)
  remove HOST             remove a standalone host (forgotten in the cluster first if it joined)
hosts: rabbitN = $NET.(10+N), bridge $BR = $NET.1
EOF
}

# ------------------------------------------------------------------------------------------------ main
cmd=${1:-help}
shift || true
case $cmd in
  help|-h|--help) usage; exit 0 ;;
  inventory) echo "$LAB/inventory.toml"; [ -f "$LAB/inventory.toml" ] || exit 1; exit 0 ;;
esac
require_root
require_tools
check_config
case $cmd in
  up|down|heal|fault|add|remove) # one changing command at a time (this is not the test-suite's lock)
    exec 9>>"$OPLOCK" || die "cannot open $OPLOCK"
    if ! flock -n 9; then
      log "waiting for another $ME command to finish (lock $OPLOCK)"
      flock -w 900 9 || die "another $ME command holds $OPLOCK for more than 900 s"
    fi
    ;;
esac
case $cmd in
  up) cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  heal) cmd_heal ;;
  fault) cmd_fault "$@" ;;
  add) cmd_add "$@" ;;
  remove) cmd_remove "$@" ;;
  data) cmd_data "$@" ;;
  exec)
    h=${1:-}; need_host "$h"; shift
    [ $# -gt 0 ] || die "usage: $ME exec HOST CMD..."
    wd=/
    case $PWD/ in "$LAB"/*) ;; *) [ -d "$PWD" ] && wd=$PWD ;; esac
    exec nsenter --net="/run/netns/$h" --mount="$LAB/ns/$h.mnt" --uts="$LAB/ns/$h.uts" --wdns="$wd" -- "$@"
    ;;
  ctl)
    h=${1:-}; need_host "$h"; shift
    exec nsenter --net="/run/netns/$h" --mount="$LAB/ns/$h.mnt" --uts="$LAB/ns/$h.uts" --wd=/ -- \
      env LC_ALL=C.UTF-8 LANG=C.UTF-8 rabbitmqctl "$@"
    ;;
  shell) h=${1:-}; need_host "$h"; exec nsenter --net="/run/netns/$h" --mount="$LAB/ns/$h.mnt" --uts="$LAB/ns/$h.uts" --wd=/ -- bash -l ;;
  *) usage >&2; exit 2 ;;
esac
