#!/bin/bash
# Issue 4, live: real nginx, Redis and php-fpm in a private network namespace whose
# net.core.somaxconn is 128, each asking for backlog 4096; qfix plan / apply --restart / plan.
#
# Run ONLY through tests/live_services.rs, which starts it as
#   unshare --net --mount --pid --fork --kill-child --mount-proc --propagation private \
#       bash netns-services.sh QFIX FIXTURE WORKDIR HOST_NETNS HOST_MNTNS
# (fresh netns, private mount ns, own pid ns: when this script ends, every process it
# started is killed by the kernel). It refuses to run anywhere else.
#
# Protocol with the test: stdout carries only "GUARD <planfile>" (then the script reads one
# line from stdin: GO applies, anything else stops). Results go to WORKDIR/out/, the log to
# stderr.
set -u
QFIX=$1 FIX=$2 W=$3 HOST_NETNS=$4 HOST_MNTNS=$5
OUT=$W/out
mkdir -p "$OUT"

log() { printf '[netns] %s\n' "$*" >&2; }
die() { log "FATAL: $*"; echo "$*" >"$OUT/fatal"; exit 3; }

# --- refuse to touch anything outside a private namespace ------------------------------
[ "$(readlink /proc/self/ns/net)" != "$HOST_NETNS" ] || die "not in a private network namespace"
[ "$(readlink /proc/self/ns/mnt)" != "$HOST_MNTNS" ] || die "not in a private mount namespace"
[ "$$" = 1 ] || die "not pid 1 of a private pid namespace (pid $$)"
MYNET=$(readlink /proc/self/ns/net)
echo "$MYNET" >"$OUT/netns"
mount --make-rprivate / || die "make-rprivate"

# --- cleanup: stop the services, then kill whatever is left in this netns ---------------
cleanup() {
    local rc=$?
    set +e
    for pf in /run/nginx.pid /run/redis/redis-server.pid /run/php/php8.2-fpm.pid; do
        [ -s "$pf" ] && kill -TERM "$(cat "$pf")" 2>/dev/null
    done
    sleep 0.3
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = 1 ] && continue
        [ "$(readlink /proc/$p/ns/net 2>/dev/null)" = "$MYNET" ] && kill -KILL "$p" 2>/dev/null
    done
    # pid 1 exiting makes the kernel kill anything still in this pid namespace
    exit $rc
}
trap cleanup EXIT

# --- network: loopback up, somaxconn 128 (per netns) -------------------------------------
ip link set lo up || die "ip link set lo up"
echo 128 >/proc/sys/net/core/somaxconn || die "cannot set somaxconn in the netns"
log "netns $MYNET: somaxconn $(cat /proc/sys/net/core/somaxconn) (host netns $HOST_NETNS)"

# --- filesystems: nothing the services or qfix write may reach the host -----------------
for d in /run /var/log /var/lib; do
    mount -t tmpfs -o mode=755 tmpfs "$d" || die "tmpfs on $d"
done
# /etc: an overlay whose upper layer is in WORKDIR, so even a stray write lands there
mkdir -p "$W/etc-upper" "$W/etc-work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$W/etc-upper,workdir=$W/etc-work" /etc \
    || die "overlay on /etc"

# the test tree, from fixtures/debian-stock, edited to ask for backlog 4096 everywhere
T=$W/tree
mkdir -p "$T"
cp -a "$FIX/etc/nginx" "$FIX/etc/redis" "$FIX/etc/php" "$FIX/etc/sysctl.d" "$T/" || die "copy fixture"
cp "$FIX/etc/sysctl.conf" "$T/sysctl.conf" || die "copy sysctl.conf"
sed -i -e 's/^\(\s*listen 80 default_server\);/\1 backlog=4096;/' \
    -e 's/^\(\s*listen \[::\]:80 default_server\);/\1 backlog=4096;/' \
    "$T/nginx/sites-available/default"
sed -i 's/^tcp-backlog 511$/tcp-backlog 4096/' "$T/redis/redis.conf"
sed -i 's/^;listen.backlog = 511$/listen.backlog = 4096/' "$T/php/8.2/fpm/pool.d/www.conf"
[ "$(grep -c 'default_server backlog=4096;' "$T/nginx/sites-available/default")" = 2 ] || die "nginx edit"
grep -qx 'tcp-backlog 4096' "$T/redis/redis.conf" || die "redis edit"
grep -qx 'listen.backlog = 4096' "$T/php/8.2/fpm/pool.d/www.conf" || die "php edit"
chown -R redis:redis "$T/redis" && chmod 2770 "$T/redis" && chmod 640 "$T/redis/redis.conf"

mount --bind "$T/nginx" /etc/nginx || die "bind nginx"
mount --bind "$T/redis" /etc/redis || die "bind redis"
mount --bind "$T/php" /etc/php || die "bind php"
mount --bind "$T/sysctl.d" /etc/sysctl.d || die "bind sysctl.d"
mount --bind "$T/sysctl.conf" /etc/sysctl.conf || die "bind sysctl.conf"
# other services' configs that qfix would scan (and then restart): hidden
mkdir -p "$W/empty"
# (systemd units too: this host runs no systemd, yet qfix lists the stock .socket units,
# templates included, as restarts; see the test's notes)
for d in /etc/apache2 /etc/haproxy /etc/uwsgi /etc/mysql /etc/qfix /etc/systemd/system \
    /run/systemd/system /usr/local/lib/systemd/system /usr/lib/systemd/system /lib/systemd/system; do
    [ -e "$d" ] && { mount --bind "$W/empty" "$d" || die "hide $d"; }
done
# memcached: not part of this test; its config goes (overlay whiteout), so nothing scans it
rm -f /etc/memcached.conf /etc/sysconfig/memcached
[ ! -e /etc/memcached.conf ] || die "memcached.conf still visible"
# the runtime dirs the packages' postinst/tmpfiles would make
install -d -o redis -g redis -m 750 /var/lib/redis
install -d -o redis -g adm -m 2750 /var/log/redis
install -d -o www-data -g www-data -m 755 /run/php
install -d -m 755 /var/lib/nginx /var/log/nginx /var/lib/php
[ -d /run/systemd/system ] && die "/run/systemd/system exists: qfix would use systemctl"

# --- start the services the way their init scripts do -----------------------------------
start() { # NAME: init script, its output in OUT/start-NAME.txt
    if /etc/init.d/"$1" start </dev/null >"$OUT/start-$1.txt" 2>&1; then
        log "started $1: $(tr '\n' ' ' <"$OUT/start-$1.txt")"
    else
        log "/etc/init.d/$1 start failed: $(cat "$OUT/start-$1.txt")"
    fi
}
start nginx
start redis-server
start php8.2-fpm

wait_listen() { # wait until all expected listeners exist
    for _ in $(seq 50); do
        ss -ltn | grep -q ' 0.0.0.0:80 ' && ss -ltn | grep -q ' 127.0.0.1:6379 ' \
            && ss -lxn | grep -q '/run/php/php8.2-fpm.sock ' && return 0
        sleep 0.1
    done
    return 1
}
snapshot() { # PHASE
    ss -ltn >"$OUT/ss-$1-tcp.txt"
    ss -lxn >"$OUT/ss-$1-unix.txt"
    cat /proc/sys/net/core/somaxconn >"$OUT/somaxconn-$1.txt"
    log "ss $1 (somaxconn $(cat /proc/sys/net/core/somaxconn)):"
    cat "$OUT/ss-$1-tcp.txt" "$OUT/ss-$1-unix.txt" | sed 's/^/[netns]   /' >&2
}
wait_listen || log "not every listener came up (see the ss output)"
snapshot before

# --- qfix plan ---------------------------------------------------------------------------
"$QFIX" --root / plan --format json --out "$OUT/planfile.json" \
    >"$OUT/plan1.json" 2>"$OUT/plan1.err" </dev/null
echo $? >"$OUT/plan1.rc"
log "plan exit $(cat "$OUT/plan1.rc")"

# --- guard: the test reads the saved plan and answers GO only for net.* changes ----------
echo "GUARD $OUT/planfile.json"
read -r verdict || verdict=EOF
# second, independent check here (jq): only net.* sysctls, files only in /etc/sysctl.d
if command -v jq >/dev/null; then
    bad=$(jq -r '.plan.changes[] | select((.kind == "sysctl" and (.key | startswith("net.") | not))
            or (.kind == "file" and (.path | startswith("/etc/sysctl.d/") | not))) | (.key // .path)' \
            "$OUT/planfile.json") || bad="(unparsable plan)"
    [ -z "$bad" ] || verdict="jq-refused: $bad"
fi
if [ "$verdict" != GO ]; then
    log "apply refused: $verdict"
    echo "$verdict" >"$OUT/refused"
    exit 4
fi

# --- qfix apply (the plan just checked), without the restarts ---------------------------
"$QFIX" --root / apply "$OUT/planfile.json" --yes --format json \
    >"$OUT/apply.json" 2>"$OUT/apply.err" </dev/null
echo $? >"$OUT/apply.rc"
log "apply exit $(cat "$OUT/apply.rc")"
snapshot unrestarted

# --- the running services kept their old queues: the kernel says so -----------------------
"$QFIX" --root / plan --format json >"$OUT/plan-stale.json" 2>"$OUT/plan-stale.err" </dev/null
echo $? >"$OUT/plan-stale.rc"
log "plan after apply without restarts: exit $(cat "$OUT/plan-stale.rc")"
# only restarts may be left: anything to write refuses the second apply
if command -v jq >/dev/null && [ "$(jq '.changes | length' "$OUT/plan-stale.json")" != 0 ]; then
    log "the plan after apply still has changes: refusing to apply again"
    exit 4
fi

# --- qfix apply --restart: nothing to write, the restarts the evidence calls for ----------
"$QFIX" --root / apply --yes --restart --format json \
    >"$OUT/restart.json" 2>"$OUT/restart.err" </dev/null
echo $? >"$OUT/restart.rc"
log "apply --restart exit $(cat "$OUT/restart.rc")"
wait_listen || log "not every listener came back (see the ss output)"
snapshot after

# --- second plan: nothing left to change --------------------------------------------------
"$QFIX" --root / plan --format json >"$OUT/plan2.json" 2>"$OUT/plan2.err" </dev/null
echo $? >"$OUT/plan2.rc"
log "second plan exit $(cat "$OUT/plan2.rc")"
ls -A "$T/sysctl.d" >"$OUT/sysctl.d.ls"
exit 0
