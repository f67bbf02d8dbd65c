#!/bin/sh
# Reproduce, with the real daemons, every log line qfix's log reader counts, and copy the logs
# to OUT (default: tests/logs/captured, the fixtures of the parsers' tests). Run as root;
# everything happens inside
#   unshare -n -m -p --fork --kill-child --mount-proc --propagation private
# so the daemons end with the pid namespace and only this network namespace's net.* sysctls
# change (/proc/sys is bound read-only, /proc/sys/net read-write, and a kernel.* write is
# proven impossible before anything is written).
#
#   nginx -> php-fpm 8.2 (unix socket, pm.max_children = 2, a 200 ms script), somaxconn 128,
#            300 concurrent requests: EAGAIN lines, max_children warning;
#   nginx -> 127.0.0.1:9 (nothing listens): Connection refused;
#   nginx -> a TCP server that accepts and never answers, proxy_read_timeout 1s: timed out;
#   nginx -> an upstream of two refusing servers, three requests: no live upstreams;
#   nginx with ip_local_port_range narrowed to 10 ports and tcp_tw_reuse 0, 30 short
#            requests: EADDRNOTAVAIL;
#   nginx error_log to syslog (UDP) and a second php-fpm logging to syslog (/dev/log bound to
#            a socket of ours): the syslog forms of the same lines;
#   redis-server with tcp-backlog 511: the somaxconn warning;
#   uwsgi with listen 1024: refuses to start; uwsgi with listen 10 and its only worker
#            stopped (SIGSTOP by pid): listen queue full.
set -eu
OUT=${1:-$(cd "$(dirname "$0")" && pwd)/captured}
if [ -z "${QFIX_CAPTURE_INNER:-}" ]; then
    [ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
    mkdir -p "$OUT"
    # the work directory: a mount point for the namespace's own tmpfs, removed after
    W=$(mktemp -d /tmp/qfix-capture.XXXXXX)
    rc=0
    env QFIX_CAPTURE_INNER="$W" timeout -k 5 300 unshare -n -m -p --fork --kill-child \
        --mount-proc --propagation private sh "$0" "$OUT" || rc=$?
    rmdir "$W"
    exit $rc
fi

mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,rw /proc/sys/net
if ( : > /proc/sys/kernel/pid_max ) 2>/dev/null; then
    echo "kernel.pid_max is writable: refusing to go on" >&2; exit 1
fi
ip link set lo up
echo 128 > /proc/sys/net/core/somaxconn

W=$QFIX_CAPTURE_INNER
mount -t tmpfs tmpfs "$W"
grep -q " $W tmpfs " /proc/mounts || { echo "$W is not a private tmpfs" >&2; exit 1; }
chmod 755 "$W"
mkdir -p "$W/www" "$W/log" "$W/run" "$W/tmp"
chmod 777 "$W/log" "$W/run" "$W/tmp"
printf '<?php usleep(200000); echo "ok\\n";\n' > "$W/www/slow.php"

cat > "$W/php-fpm.conf" <<CONF
[global]
error_log = $W/log/php-fpm.log
pid = $W/run/php-fpm.pid
[www]
user = www-data
group = www-data
listen = $W/run/php-fpm.sock
listen.mode = 0666
pm = dynamic
pm.max_children = 2
pm.start_servers = 1
pm.min_spare_servers = 1
pm.max_spare_servers = 2
CONF
php-fpm8.2 -y "$W/php-fpm.conf"

# syslog receivers: datagrams to files, one line each (UDP for nginx, /dev/log for php-fpm)
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 5514))
with open(sys.argv[1], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b"\n") + b"\n")
' "$W/log/syslog-udp.log" &
# /dev/log: this host may have none; a private /dev (the usual nodes bound in) holds ours
mkdir "$W/dev"
mount -t tmpfs tmpfs "$W/dev"
for d in null zero full random urandom tty; do
    touch "$W/dev/$d"; mount --bind "/dev/$d" "$W/dev/$d"
done
ln -s /proc/self/fd "$W/dev/fd"
mount --bind "$W/dev" /dev
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind("/dev/log")
with open(sys.argv[1], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b"\n") + b"\n")
' "$W/log/syslog-devlog.log" &
sleep 1
cat > "$W/php-fpm-sys.conf" <<CONF
[global]
error_log = syslog
pid = $W/run/php-fpm-sys.pid
[sys]
user = www-data
group = www-data
listen = $W/run/php-fpm-sys.sock
listen.mode = 0666
pm = ondemand
pm.max_children = 1
CONF
php-fpm8.2 -y "$W/php-fpm-sys.conf"

# a TCP server that accepts and never answers (timeouts), on 127.0.0.1:9100
python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 9100)); s.listen(64)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' &
# an HTTP server answering at once and closing last (ephemeral ports), on 127.0.0.1:9200
python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 9200)); s.listen(512)
while True:
    c, _ = s.accept()
    try:
        c.recv(4096); c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        # nginx closes first, so its side (the client) holds the TIME_WAIT
        while c.recv(4096):
            pass
    except OSError:
        pass
    c.close()
' &

cat > "$W/nginx.conf" <<CONF
user www-data;
worker_processes 1;
pid $W/run/nginx.pid;
error_log $W/log/nginx-main.log;
events { worker_connections 2048; }
http {
    error_log $W/log/error.log;
    access_log off;
    client_body_temp_path $W/tmp/body;
    fastcgi_temp_path $W/tmp/fastcgi;
    proxy_temp_path $W/tmp/proxy;
    uwsgi_temp_path $W/tmp/uwsgi;
    scgi_temp_path $W/tmp/scgi;
    upstream nothing { server 127.0.0.1:9; server 127.0.0.1:10; }
    server {
        listen 127.0.0.1:8080;
        server_name localhost;
        root $W/www;
        location ~ \.php\$ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_pass unix:$W/run/php-fpm.sock;
        }
        location /refused { proxy_pass http://nothing; }
        location /sys/ {
            error_log syslog:server=127.0.0.1:5514,tag=nginx;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $W/www/slow.php;
            fastcgi_pass unix:$W/run/php-fpm-sys.sock;
        }
        location /timeout { proxy_pass http://127.0.0.1:9100; proxy_read_timeout 1s; }
        location /ports { proxy_pass http://127.0.0.1:9200; }
    }
}
CONF
nginx -c "$W/nginx.conf"
sleep 1

# the burst: 300 requests at once
ab -q -n 300 -c 300 http://127.0.0.1:8080/slow.php > "$W/ab-burst.txt" 2>&1 || true
sleep 2
for i in 1 2 3; do curl -s -o /dev/null http://127.0.0.1:8080/refused || true; done
ab -q -n 200 -c 200 http://127.0.0.1:8080/sys/x > /dev/null 2>&1 || true
curl -s -o /dev/null http://127.0.0.1:8080/timeout || true
# 10 ephemeral ports: the 11th connection to 127.0.0.1:9200 within 60 s finds none free
echo 0 > /proc/sys/net/ipv4/tcp_tw_reuse
echo "40000 40009" > /proc/sys/net/ipv4/ip_local_port_range
for i in $(seq 1 30); do curl -s -o /dev/null --local-port 20000-20999 http://127.0.0.1:8080/ports || true; done
echo "32768 60999" > /proc/sys/net/ipv4/ip_local_port_range

# Redis asks for 511 with somaxconn 128
cat > "$W/redis.conf" <<CONF
port 6390
bind 127.0.0.1
tcp-backlog 511
dir $W/tmp
logfile $W/log/redis-server.log
daemonize no
save ""
CONF
redis-server "$W/redis.conf" &
sleep 1

# uWSGI above somaxconn: refuses to start
uwsgi --socket 127.0.0.1:3030 --listen 1024 --logto "$W/log/uwsgi-refused.log" \
    --log-date > /dev/null 2>&1 || true
# uWSGI with listen 10 and its only worker stopped: the queue fills
uwsgi --master --processes 1 --socket 127.0.0.1:3031 --listen 10 \
    --pidfile "$W/run/uwsgi.pid" --logto "$W/log/uwsgi.log" &
sleep 2
master=$(cat "$W/run/uwsgi.pid")
for child in $(cat /proc/"$master"/task/*/children); do kill -STOP "$child"; done
python3 -c '
import socket, time
held = []
for i in range(40):
    s = socket.socket(); s.setblocking(False)
    try: s.connect(("127.0.0.1", 3031))
    except BlockingIOError: pass
    held.append(s)
time.sleep(3)
'

for f in "$W"/log/*.log "$W/ab-burst.txt"; do
    if [ -s "$f" ]; then cp "$f" "$OUT/"; fi
done
chmod 644 "$OUT"/*
ls -l "$OUT"
