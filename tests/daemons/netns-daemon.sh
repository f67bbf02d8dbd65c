#!/bin/bash
# One real daemon, started from a config tree, in private namespaces; prints the kernel's view
# of its listening sockets. Run ONLY by tests/daemons_vs_kernel.rs, as
#   unshare -n -m -p --fork --mount-proc bash netns-daemon.sh SERVICE TREE SOMAXCONN HOST_NETNS
# (fresh network namespace, private mounts, own pid namespace: every process started here dies
# with this script, pid 1). It refuses to run anywhere else.
#
# The tree's /etc/<service> files are bind-mounted over the real ones (on an overlay of /etc,
# so even a stray write stays here); runtime and data dirs are tmpfs. net.core.somaxconn is set
# in this network namespace only, after /proc/sys is remounted read-only with just
# /proc/sys/net writable again, and after checking that a kernel.* file is not writable.
#
# stdout: the `ss -Hltnx` lines once the listeners have settled, nothing else. stderr: a log,
# and the daemon's own output when it did not come up.
set -u
SERVICE=$1 TREE=$2 SOMAXCONN=$3 HOST_NETNS=$4

log() { printf '[%s] %s\n' "$SERVICE" "$*" >&2; }
die() { log "FATAL: $*"; exit 3; }

# --- refuse to touch anything outside private namespaces ------------------------------------
[ "$$" = 1 ] || die "not pid 1 of a private pid namespace (pid $$)"
[ "$(readlink /proc/self/ns/net)" != "$HOST_NETNS" ] || die "not in a private network namespace"
mount --make-rprivate / || die "make-rprivate"

# --- /proc/sys read-only but for net.* (per network namespace) -----------------------------
mount --bind /proc/sys /proc/sys || die "bind /proc/sys"
mount -o remount,bind,ro /proc/sys || die "remount /proc/sys read-only"
mount --bind /proc/sys/net /proc/sys/net || die "bind /proc/sys/net"
mount -o remount,bind,rw /proc/sys/net || die "remount /proc/sys/net read-write"
for k in kernel/pid_max kernel/hostname fs/file-max vm/swappiness; do
    [ ! -w /proc/sys/$k ] || die "/proc/sys/$k is writable: refusing to go on"
done
ip link set lo up || die "ip link set lo up"
echo "$SOMAXCONN" >/proc/sys/net/core/somaxconn || die "set somaxconn"
[ "$(cat /proc/sys/net/core/somaxconn)" = "$SOMAXCONN" ] || die "somaxconn not set"

# --- filesystems: /etc on an overlay, runtime dirs on tmpfs ---------------------------------
mount -t tmpfs -o mode=755 tmpfs /run || die "tmpfs /run"
mkdir -p /run/.etc/upper /run/.etc/work /run/lock
mount -t overlay overlay -o lowerdir=/etc,upperdir=/run/.etc/upper,workdir=/run/.etc/work /etc \
    || die "overlay /etc"
# the tree may live under /tmp, which gets a tmpfs of its own below
mkdir -p /run/.tree
mount --bind "$TREE" /run/.tree || die "bind the tree"
TREE=/run/.tree
for d in /var/log /var/lib/mysql /var/lib/redis /var/lib/nginx /var/lib/php /var/cache /var/tmp /srv; do
    mkdir -p "$d" 2>/dev/null
    mount -t tmpfs -o mode=755 tmpfs "$d" || die "tmpfs $d"
done
mount -t tmpfs -o mode=1777 tmpfs /tmp || die "tmpfs /tmp"
# bind a tree path over the same path here (a file or a directory, created in the overlay)
over() {
    local p=$1
    [ -e "$TREE$p" ] || return 0
    if [ -d "$TREE$p" ]; then mkdir -p "$p"; else mkdir -p "$(dirname "$p")"; touch "$p"; fi
    mount --bind "$TREE$p" "$p" || die "bind $p"
}
LOGS=()
started() { # wait until the listening sockets settle: unchanged for 0.8 s (5 s when none yet)
    local prev="" cur same=0 i
    for i in $(seq 150); do
        cur=$(ss -Hltnx 2>/dev/null | sort)
        if [ "$cur" = "$prev" ]; then same=$((same + 1)); else same=0; fi
        prev=$cur
        if [ -n "$cur" ] && [ $same -ge 8 ]; then break; fi
        if [ -z "$cur" ] && [ $same -ge 50 ]; then break; fi
        sleep 0.1
    done
    ss -Hltnx
    if [ -z "$cur" ]; then
        log "no listening socket came up; daemon output:"
        for f in "${LOGS[@]}"; do [ -e "$f" ] && sed "s|^|[$SERVICE]   $f: |" "$f" >&2; done
    fi
}

cd / || die "cd /"
case $SERVICE in
nginx)
    over /etc/nginx
    mkdir -p /var/log/nginx
    LOGS=(/run/start.log /var/log/nginx/error.log)
    nginx >/run/start.log 2>&1
    ;;
php-fpm)
    over /etc/php
    over /etc/php-fpm.conf
    over /etc/php-fpm.d
    install -d -o www-data -g www-data /run/php /run/php-fpm
    mkdir -p /var/log/php-fpm
    LOGS=(/run/start.log /var/log/php8.2-fpm.log /var/log/php-fpm/error.log)
    conf=/etc/php/8.2/fpm/php-fpm.conf
    [ -e "$TREE/etc/php-fpm.conf" ] && conf=/etc/php-fpm.conf
    php-fpm8.2 -D --fpm-config "$conf" >/run/start.log 2>&1
    ;;
redis)
    over /etc/redis
    install -d -o redis -g redis /run/redis /var/lib/redis /var/log/redis
    LOGS=(/run/start.log /var/log/redis/redis-server.log)
    # a config with `daemonize no` (upstream's) stays in the foreground
    (cd /var/lib/redis && exec redis-server /etc/redis/redis.conf) >/run/start.log 2>&1 &
    ;;
haproxy)
    over /etc/haproxy
    install -d -o haproxy -g haproxy /run/haproxy
    # the fd limits systemd gives a service (DefaultLimitNOFILE=1024:524288 since v240):
    # HAProxy sizes an unset maxconn from them, and so does qfix's guess
    # (raising the hard limit needs CAP_SYS_RESOURCE; without it the current one stays)
    ulimit -Hn 524288 2>/dev/null || log "fd hard limit stays $(ulimit -Hn): cannot raise it"
    ulimit -Sn 1024 || die "ulimit -Sn"
    LOGS=(/run/start.log)
    haproxy -f /etc/haproxy/haproxy.cfg -D -p /run/haproxy.pid >/run/start.log 2>&1
    ;;
apache)
    over /etc/apache2
    mkdir -p /var/log/apache2
    LOGS=(/run/start.log /var/log/apache2/error.log)
    apache2ctl start >/run/start.log 2>&1
    ;;
mysql)
    over /etc/mysql
    install -d -o mysql -g mysql /run/mysqld /var/lib/mysql /var/log/mysql
    LOGS=(/run/install.log /run/start.log)
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db \
        --auth-root-authentication-method=normal >/run/install.log 2>&1 \
        || { log "mariadb-install-db failed:"; cat /run/install.log >&2; }
    mariadbd --user=mysql >/run/start.log 2>&1 &
    ;;
memcached)
    over /etc/memcached.conf
    install -d -o memcache -g memcache /run/memcached
    LOGS=(/run/start.log /var/log/memcached.log)
    # what Debian's init script runs: it reads /etc/memcached.conf, one flag a line
    /usr/share/memcached/scripts/start-memcached >/run/start.log 2>&1
    ;;
uwsgi)
    over /etc/uwsgi
    over /etc/default/uwsgi
    mkdir -p /var/log/uwsgi/app /srv/site /srv/app
    LOGS=(/run/start.log /var/log/uwsgi/app/*.log)
    # Debian's init script: each apps-enabled file, with /usr/share/uwsgi/conf/default.ini
    /etc/init.d/uwsgi start >/run/start.log 2>&1
    # RHEL's layout: uwsgi.service runs /etc/uwsgi.ini, an emperor of /etc/uwsgi.d
    if [ -e "$TREE/etc/uwsgi.ini" ]; then
        over /etc/uwsgi.ini
        over /etc/uwsgi.d
        mkdir -p /run/uwsgi # (the unit's ExecStartPre)
        uwsgi --ini /etc/uwsgi.ini --daemonize /var/log/uwsgi/emperor.log >>/run/start.log 2>&1
    fi
    LOGS=(/run/start.log /var/log/uwsgi/*.log /var/log/uwsgi/app/*.log)
    ;;
*)
    die "unknown service $SERVICE"
    ;;
esac
started
exit 0
