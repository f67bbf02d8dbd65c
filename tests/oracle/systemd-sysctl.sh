#!/bin/bash
# Oracle: run the real systemd-sysctl (systemd 252, Debian 12) against a test
# layout, confined to a private network + mount namespace, and print the
# resulting values of the requested net.* keys.
#
# usage: systemd-sysctl.sh LAYOUT_DIR KEY...
#
#   LAYOUT_DIR  root tree that may contain etc/sysctl.d, run/sysctl.d,
#               usr/local/lib/sysctl.d, usr/lib/sysctl.d (files, symlinks,
#               links to /dev/null) and etc/sysctl.conf.
#   KEY         literal sysctl key in dotted (net.core.somaxconn) or slash
#               (net/core/somaxconn) form; must start with net.
#
# stdout: one line per KEY: "KEY<TAB>VALUE" (VALUE whitespace-collapsed to
#         single spaces), or "KEY<TAB><missing>" if /proc/sys has no such key.
# stderr: systemd-sysctl's own log output (console, level $ORACLE_LOG_LEVEL,
#         default info) followed by "oracle: systemd-sysctl exit status N".
#
# exit codes: 0 ok (even if systemd-sysctl itself failed; see stderr)
#             2 usage error            3 refused (a non-net key would be written)
#             4 environment problem (not root, unshare/mount failed, namespace
#               checks failed)
#
# Safety: systemd-sysctl is only ever started after
#   * re-exec under `unshare -n -m --propagation private` (fresh netns, private
#     mount ns) and verification that both namespaces differ from the caller's
#     and from PID 1's, and that the netns contains only "lo";
#   * tmpfs mounted over every sysctl.d directory systemd 252 reads;
#   * CREDENTIALS_DIRECTORY removed (sysctl.extra credential);
#   * every line systemd could parse (per --cat-config AND per a conservative
#     scan of every *.conf entry in those dirs, lines split on \n \r \0) names
#     a key whose normalized form starts with net/.
set -u
export LC_ALL=C

die() { local c=$1; shift; echo "oracle: $*" >&2; exit "$c"; }

SYSCTL_BIN=/lib/systemd/systemd-sysctl
# Directories systemd-sysctl 252 enumerates (CONF_PATHS("sysctl.d"); /lib is
# de-duplicated against /usr/lib by path_strv_resolve_uniq on this host).
SYSCTL_DIRS=(/etc/sysctl.d /run/sysctl.d /usr/local/lib/sysctl.d /usr/lib/sysctl.d)

# --- normalize a key the way sysctl_normalize() does (swap . and / if the
# first separator is '.', collapse //, drop leading /). Prints result.
normalize_key() {
    printf '%s' "$1" | awk '
    { k = $0
      i = match(k, /[.\/]/)
      if (i > 0 && substr(k, i, 1) == ".") {
          out = ""
          for (j = 1; j <= length(k); j++) {
              c = substr(k, j, 1)
              if (c == ".") c = "/"; else if (c == "/") c = "."
              out = out c
          }
          k = out
      }
      gsub(/\/+/, "/", k); sub(/^\/+/, "", k)
      printf "%s", k }'
}

key_ok() { # $1 = raw key; literal keys only (no globs) for the query side
    local raw=$1 n
    [[ $raw =~ ^net[./][A-Za-z0-9_.:@/-]+$ ]] || return 1
    n=$(normalize_key "$raw")
    [[ $n == net/* && $n != *..* ]] || return 1
}

# --- argument checks (before anything else) ---------------------------------
[[ $# -ge 1 ]] || die 2 "usage: $0 LAYOUT_DIR KEY..."
LAYOUT=$1; shift
[[ -d $LAYOUT ]] || die 2 "layout dir '$LAYOUT' does not exist"
for k in "$@"; do
    key_ok "$k" || die 3 "refusing: key '$k' is not a literal net.* key"
done

if [[ -z ${ORACLE_INNER:-} ]]; then
    # ---------------- outer: re-exec inside fresh namespaces ----------------
    [[ $(id -u) -eq 0 ]] || die 4 "must run as root (needs unshare -n -m)"
    [[ -x $SYSCTL_BIN ]] || die 4 "$SYSCTL_BIN not found"
    command -v unshare >/dev/null || die 4 "unshare not found"
    LAYOUT=$(realpath -e -- "$LAYOUT") || die 2 "cannot resolve '$LAYOUT'"
    SELF=$(realpath -e -- "${BASH_SOURCE[0]}") || die 4 "cannot resolve self"
    ORACLE_OUTER_NET=$(readlink /proc/self/ns/net) || die 4 "no /proc/self/ns/net"
    ORACLE_OUTER_MNT=$(readlink /proc/self/ns/mnt) || die 4 "no /proc/self/ns/mnt"
    export ORACLE_INNER=1 ORACLE_OUTER_NET ORACLE_OUTER_MNT
    exec unshare --net --mount --propagation private -- /bin/bash "$SELF" "$LAYOUT" "$@"
    die 4 "exec unshare failed"
fi

# ------------------------------ inner -----------------------------------------
my_net=$(readlink /proc/self/ns/net); my_mnt=$(readlink /proc/self/ns/mnt)
pid1_net=$(readlink /proc/1/ns/net 2>/dev/null || echo unknown)
pid1_mnt=$(readlink /proc/1/ns/mnt 2>/dev/null || echo unknown)
# unshare(1) execs us in place, so our parent is the original caller, which
# is still in the outer namespaces: an env-independent check.
ppid_net=$(readlink /proc/$PPID/ns/net) || die 4 "cannot read parent netns"
ppid_mnt=$(readlink /proc/$PPID/ns/mnt) || die 4 "cannot read parent mntns"
[[ -n ${ORACLE_OUTER_NET:-} && -n ${ORACLE_OUTER_MNT:-} ]] || die 4 "inner mode without outer namespace ids"
[[ $my_net != "$ppid_net" && $my_mnt != "$ppid_mnt" ]] || die 4 "namespaces not private w.r.t. parent"
[[ $my_net != "$ORACLE_OUTER_NET" && $my_net != "$pid1_net" ]] || die 4 "not in a private network namespace"
[[ $my_mnt != "$ORACLE_OUTER_MNT" && $my_mnt != "$pid1_mnt" ]] || die 4 "not in a private mount namespace"
# A fresh netns has exactly one interface: lo.
ifaces=$(awk 'NR > 2 { sub(/:.*/, "", $1); print $1 }' /proc/self/net/dev | tr '\n' ' ')
[[ $ifaces == "lo " ]] || die 4 "netns is not fresh (interfaces: $ifaces)"
# Make sure nothing propagates back (unshare already did this; be explicit).
mount --make-rprivate / 2>/dev/null || die 4 "cannot make / rprivate"

cd "$LAYOUT" || die 4 "cannot cd to layout"   # cwd survives over-mounts
if [[ -e lib/sysctl.d || -L lib/sysctl.d ]]; then
    [[ $(realpath -m /lib/sysctl.d) == "$(realpath -m /usr/lib/sysctl.d)" ]] \
        && die 2 "layout has lib/sysctl.d but /lib is /usr/lib on this host; use usr/lib/sysctl.d"
fi

# mount a tmpfs so that dir $1 exists and is an empty private directory.
# If $1 does not exist, the tmpfs goes on its parent (never on / or /usr).
mount_empty() {
    local d=$1 p
    if [[ -d $d ]]; then
        mount -t tmpfs -o mode=0755 oracle-sysctl "$d" || die 4 "mount tmpfs on $d failed"
    else
        p=$(dirname "$d")
        [[ -d $p ]] || die 4 "neither $d nor $p exists"
        case $(realpath -e "$p") in /|/usr|/etc|/proc|/sys|/dev) die 4 "would have to hide $p";; esac
        mount -t tmpfs -o mode=0755 oracle-sysctl "$p" || die 4 "mount tmpfs on $p failed"
        mkdir -m 0755 "$d" || die 4 "mkdir $d failed"
    fi
}

for d in "${SYSCTL_DIRS[@]}"; do
    mount_empty "$d"
    rel=${d#/}
    if [[ -d $rel && ! -L $rel ]]; then
        cp -a -- "$rel/." "$d/" || die 4 "copying $rel failed"
    elif [[ -e $rel || -L $rel ]]; then
        die 2 "layout $rel must be a real directory"
    fi
done
# A split-usr /lib that is NOT /usr/lib would be a 5th directory: blank it too.
if [[ -d /lib/sysctl.d && $(realpath /lib/sysctl.d) != "$(realpath /usr/lib/sysctl.d)" ]]; then
    mount_empty /lib/sysctl.d
    [[ -d lib/sysctl.d ]] && { cp -a -- lib/sysctl.d/. /lib/sysctl.d/ || die 4 "copy lib failed"; }
fi

[[ -e /etc/sysctl.conf ]] || die 4 "/etc/sysctl.conf missing on host (needed as bind target)"
if [[ -e etc/sysctl.conf ]]; then
    [[ -f etc/sysctl.conf ]] || die 2 "layout etc/sysctl.conf must be a regular file"
    mount --bind etc/sysctl.conf /etc/sysctl.conf || die 4 "bind etc/sysctl.conf failed"
else
    # absent -> empty (dangling-symlink case is not reproducible without hiding /etc)
    mount --bind /dev/null /etc/sysctl.conf || die 4 "bind /dev/null failed"
fi

# verify the mounts really are in place
for d in "${SYSCTL_DIRS[@]}"; do
    t=$(stat -f -c %T "$d/" 2>/dev/null)
    [[ $t == tmpfs ]] || die 4 "$d is not on tmpfs ($t)"
done

# private scratch space (layout already copied/bound, so hiding /tmp is fine)
SCRATCH=/tmp
mount -t tmpfs -o mode=0700 oracle-scratch "$SCRATCH" || die 4 "mount scratch tmpfs failed"

unset CREDENTIALS_DIRECTORY JOURNAL_STREAM NOTIFY_SOCKET
export SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_LEVEL=${ORACLE_LOG_LEVEL:-info}
export SYSTEMD_COLORS=0 SYSTEMD_LOG_COLOR=0 SYSTEMD_PAGER=cat SYSTEMD_URLIFY=0

# --- safety check on config lines ---------------------------------------------
# Reads config text on stdin, prints offending lines. Mirrors parse_file():
# strip, skip empty/#/; lines, optional leading '-', key = text before first
# '=', (lines with neither '=' nor leading '-' are ignored by systemd).
# Conservative: strips only blanks/tabs, checks negative '-key' lines too.
bad_lines() {
    tr '\r\000' '\n\n' | awk '
    function norm(k,   i, j, c, out) {
        i = match(k, /[.\/]/)
        if (i > 0 && substr(k, i, 1) == ".") {
            out = ""
            for (j = 1; j <= length(k); j++) {
                c = substr(k, j, 1)
                if (c == ".") c = "/"; else if (c == "/") c = "."
                out = out c
            }
            k = out
        }
        gsub(/\/+/, "/", k); sub(/^\/+/, "", k)
        return k
    }
    {
        l = $0
        sub(/^[ \t]+/, "", l); sub(/[ \t]+$/, "", l)
        if (l == "" || substr(l, 1, 1) == "#" || substr(l, 1, 1) == ";") next
        e = index(l, "=")
        if (e > 0) k = substr(l, 1, e - 1)
        else if (substr(l, 1, 1) == "-") k = l
        else next                      # "Line is not an assignment" -> ignored
        if (substr(k, 1, 1) == "-") k = substr(k, 2)
        sub(/^[ \t]+/, "", k); sub(/[ \t]+$/, "", k)
        n = norm(k)
        if (n !~ /^net\/./ || n ~ /\.\./ || n ~ /[{}\\]/) print "  " $0
    }'
}

refuse=0
# (1) conservative scan: every *.conf entry (incl. hidden) of every dir.
for d in "${SYSCTL_DIRS[@]}" /lib/sysctl.d; do
    [[ -d $d ]] || continue
    for f in "$d"/* "$d"/.*; do
        [[ $f == *.conf ]] || continue
        [[ -e $f || -L $f ]] || continue
        if [[ ! -e $f ]]; then continue                  # dangling -> ENOENT, ignored
        elif [[ -d $f ]]; then continue                  # read fails with EISDIR
        elif [[ -c $f && $(stat -L -c '%t:%T' "$f") == 1:3 ]]; then continue   # /dev/null
        elif [[ ! -f $f ]]; then echo "oracle: refusing: $f is not a regular file" >&2; refuse=1; continue
        fi
        out=$(bad_lines < "$f")
        if [[ -n $out ]]; then
            printf 'oracle: refusing: non-net key in %s:\n%s\n' "$f" "$out" >&2; refuse=1
        fi
    done
done
# (2) what systemd-sysctl itself says it will read.
cat_out=$(timeout 20 "$SYSCTL_BIN" --cat-config --no-pager 2>"$SCRATCH/cat.err"); cat_rc=$?
cat_err=$(cat "$SCRATCH/cat.err" 2>/dev/null)
if [[ $cat_rc -ne 0 ]]; then
    echo "oracle: note: --cat-config exited $cat_rc" >&2
    printf '%s\n' "$cat_err" | sed 's/^/oracle: note: cat-config: /' >&2
fi
[[ -n ${ORACLE_SHOW_CAT:-} ]] && printf '%s\n' "$cat_out" | sed 's/^/oracle: cat: /' >&2
out=$(printf '%s\n' "$cat_out" | bad_lines)
if [[ -n $out ]]; then
    printf 'oracle: refusing: --cat-config shows non-net keys:\n%s\n' "$out" >&2; refuse=1
fi
[[ $refuse -eq 0 ]] || exit 3

# --- the real run -------------------------------------------------------------
timeout 60 "$SYSCTL_BIN"
rc=$?
echo "oracle: systemd-sysctl exit status $rc" >&2

for k in "$@"; do
    p=/proc/sys/$(normalize_key "$k")
    if [[ -f $p ]]; then
        v=$(tr -s ' \t\n' '   ' < "$p"); v=${v# }; v=${v% }
        printf '%s\t%s\n' "$k" "$v"
    else
        printf '%s\t<missing>\n' "$k"
    fi
done
exit 0
