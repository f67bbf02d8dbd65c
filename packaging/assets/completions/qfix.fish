# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_qfix_global_optspecs
    string join \n root= rules= sample= log-bytes= h/help V/version
end

function __fish_qfix_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_qfix_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_qfix_using_subcommand
    set -l cmd (__fish_qfix_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c qfix -n "__fish_qfix_needs_command" -l root -d 'Work on the host tree under DIR (configs, includes and /proc are read inside it)' -r -F
complete -c qfix -n "__fish_qfix_needs_command" -l rules -d 'Load extra rule files (*.toml) from DIR' -r -F
complete -c qfix -n "__fish_qfix_needs_command" -l sample -d 'Read the kernel\'s counters twice SECS apart (0 to 60), to see queues overflowing now (0: once)' -r
complete -c qfix -n "__fish_qfix_needs_command" -l log-bytes -d 'Read at most SIZE from the end of each service log (K, M, G; 0: read no log)' -r
complete -c qfix -n "__fish_qfix_needs_command" -s h -l help -d 'Print help'
complete -c qfix -n "__fish_qfix_needs_command" -s V -l version -d 'Print version'
complete -c qfix -n "__fish_qfix_needs_command" -f -a "blame" -d 'Show each key\'s live value, boot value, the winning assignment and what it overrides'
complete -c qfix -n "__fish_qfix_needs_command" -f -a "plan" -d 'Report findings and propose the changes toward the desired state'
complete -c qfix -n "__fish_qfix_needs_command" -f -a "apply" -d 'Show the plan, ask for approval, and apply it atomically with backups'
complete -c qfix -n "__fish_qfix_needs_command" -f -a "rollback" -d 'Undo an apply: restore its files from the backups and its live values'
complete -c qfix -n "__fish_qfix_needs_command" -f -a "listeners" -d 'List every service listener with its requested and effective backlog'
complete -c qfix -n "__fish_qfix_needs_command" -f -a "watch" -d 'A live view of the kernel\'s listeners: the fullest accept queues, overflows per network namespace, TIME_WAIT per destination; q or Ctrl-C quits'
complete -c qfix -n "__fish_qfix_needs_command" -f -a "snapshot" -d 'Record the live state of this host (sysctl values, kernel, host name) as JSON, for `plan --snapshot` on a configuration checkout'
complete -c qfix -n "__fish_qfix_needs_command" -f -a "rules" -d 'List the rules (built-in, site and --rules)'
complete -c qfix -n "__fish_qfix_needs_command" -f -a "explain" -d 'Print a rule\'s documentation: what it flags, why, an example, and its fix'
complete -c qfix -n "__fish_qfix_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c qfix -n "__fish_qfix_needs_command" -f -a "man" -d 'Print the man page qfix(1) (roff), or write every page with --dir'
complete -c qfix -n "__fish_qfix_needs_command" -f -a "schema" -d 'Print the JSON Schema of a JSON output (plan, listeners, blame, rules, snapshot, errors), or write them all to a directory'
complete -c qfix -n "__fish_qfix_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c qfix -n "__fish_qfix_using_subcommand blame" -l snapshot -d 'Judge against the live state recorded in FILE (`qfix snapshot > FILE` on the host) instead of the root\'s /proc' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand blame" -l max-age -d 'Warn when the snapshot is older than this (e.g. 24h, 90min)' -r
complete -c qfix -n "__fish_qfix_using_subcommand blame" -l format -d 'Output format: text for people, json for tools (shapes in the README)' -r -f -a "text\t''
json\t''"
complete -c qfix -n "__fish_qfix_using_subcommand blame" -l root -d 'Work on the host tree under DIR (configs, includes and /proc are read inside it)' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand blame" -l rules -d 'Load extra rule files (*.toml) from DIR' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand blame" -l sample -d 'Read the kernel\'s counters twice SECS apart (0 to 60), to see queues overflowing now (0: once)' -r
complete -c qfix -n "__fish_qfix_using_subcommand blame" -l log-bytes -d 'Read at most SIZE from the end of each service log (K, M, G; 0: read no log)' -r
complete -c qfix -n "__fish_qfix_using_subcommand blame" -s h -l help -d 'Print help'
complete -c qfix -n "__fish_qfix_using_subcommand plan" -l set -d 'Desired exact value, e.g. --set net.core.somaxconn=4096 (repeatable)' -r
complete -c qfix -n "__fish_qfix_using_subcommand plan" -l policy -d 'Policy file (default: /etc/qfix/policy.toml in the root)' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand plan" -l strategy -d 'How to fix a listen() backlog that net.core.somaxconn caps' -r -f -a "raise-somaxconn\t'Raise net.core.somaxconn to the largest requested backlog'
lower-backlog\t'Lower explicit service backlogs to somaxconn (when somaxconn cannot change)'"
complete -c qfix -n "__fish_qfix_using_subcommand plan" -l snapshot -d 'Judge against the live state recorded in FILE (`qfix snapshot > FILE` on the host) instead of the root\'s /proc' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand plan" -l max-age -d 'Warn when the snapshot is older than this (e.g. 24h, 90min)' -r
complete -c qfix -n "__fish_qfix_using_subcommand plan" -l format -d 'Output format: text for people, json for tools (shapes in the README)' -r -f -a "text\t''
json\t''"
complete -c qfix -n "__fish_qfix_using_subcommand plan" -l out -d 'Save the plan, with fingerprints of everything it read, for `qfix apply PLANFILE`' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand plan" -l root -d 'Work on the host tree under DIR (configs, includes and /proc are read inside it)' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand plan" -l rules -d 'Load extra rule files (*.toml) from DIR' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand plan" -l sample -d 'Read the kernel\'s counters twice SECS apart (0 to 60), to see queues overflowing now (0: once)' -r
complete -c qfix -n "__fish_qfix_using_subcommand plan" -l log-bytes -d 'Read at most SIZE from the end of each service log (K, M, G; 0: read no log)' -r
complete -c qfix -n "__fish_qfix_using_subcommand plan" -l all -d 'List every finding and every diff (by default: per rule and service, a count and the three worst)'
complete -c qfix -n "__fish_qfix_using_subcommand plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qfix -n "__fish_qfix_using_subcommand apply" -l set -d 'Desired exact value, e.g. --set net.core.somaxconn=4096 (repeatable)' -r
complete -c qfix -n "__fish_qfix_using_subcommand apply" -l policy -d 'Policy file (default: /etc/qfix/policy.toml in the root)' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand apply" -l strategy -d 'How to fix a listen() backlog that net.core.somaxconn caps' -r -f -a "raise-somaxconn\t'Raise net.core.somaxconn to the largest requested backlog'
lower-backlog\t'Lower explicit service backlogs to somaxconn (when somaxconn cannot change)'"
complete -c qfix -n "__fish_qfix_using_subcommand apply" -l lock-timeout -d 'Seconds to wait for another apply to release the lock' -r
complete -c qfix -n "__fish_qfix_using_subcommand apply" -l format -d 'Output format: text for people, json for tools (shapes in the README)' -r -f -a "text\t''
json\t''"
complete -c qfix -n "__fish_qfix_using_subcommand apply" -l root -d 'Work on the host tree under DIR (configs, includes and /proc are read inside it)' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand apply" -l rules -d 'Load extra rule files (*.toml) from DIR' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand apply" -l sample -d 'Read the kernel\'s counters twice SECS apart (0 to 60), to see queues overflowing now (0: once)' -r
complete -c qfix -n "__fish_qfix_using_subcommand apply" -l log-bytes -d 'Read at most SIZE from the end of each service log (K, M, G; 0: read no log)' -r
complete -c qfix -n "__fish_qfix_using_subcommand apply" -s y -l yes -d 'Apply without asking: all safe changes (and needs-review ones with --unsafe-fixes)'
complete -c qfix -n "__fish_qfix_using_subcommand apply" -l unsafe-fixes -d 'With --yes, also apply changes classed "needs review"'
complete -c qfix -n "__fish_qfix_using_subcommand apply" -l persist-only -d 'Only write files; do not write /proc/sys (images, read-only containers)'
complete -c qfix -n "__fish_qfix_using_subcommand apply" -l restart -d 'Carry out the restarts the plan lists (systemctl, else the init script); default: print them'
complete -c qfix -n "__fish_qfix_using_subcommand apply" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c qfix -n "__fish_qfix_using_subcommand rollback" -l lock-timeout -d 'Seconds to wait for another apply to release the lock' -r
complete -c qfix -n "__fish_qfix_using_subcommand rollback" -l format -d 'Output format: text for people, json for tools (shapes in the README)' -r -f -a "text\t''
json\t''"
complete -c qfix -n "__fish_qfix_using_subcommand rollback" -l root -d 'Work on the host tree under DIR (configs, includes and /proc are read inside it)' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand rollback" -l rules -d 'Load extra rule files (*.toml) from DIR' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand rollback" -l sample -d 'Read the kernel\'s counters twice SECS apart (0 to 60), to see queues overflowing now (0: once)' -r
complete -c qfix -n "__fish_qfix_using_subcommand rollback" -l log-bytes -d 'Read at most SIZE from the end of each service log (K, M, G; 0: read no log)' -r
complete -c qfix -n "__fish_qfix_using_subcommand rollback" -s y -l yes -d 'Do not ask'
complete -c qfix -n "__fish_qfix_using_subcommand rollback" -l force -d 'Also restore files and live values changed since the apply (default: refuse a changed file, leave a changed live value)'
complete -c qfix -n "__fish_qfix_using_subcommand rollback" -s h -l help -d 'Print help'
complete -c qfix -n "__fish_qfix_using_subcommand listeners" -l snapshot -d 'Judge against the live state recorded in FILE (`qfix snapshot > FILE` on the host) instead of the root\'s /proc' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand listeners" -l max-age -d 'Warn when the snapshot is older than this (e.g. 24h, 90min)' -r
complete -c qfix -n "__fish_qfix_using_subcommand listeners" -l format -d 'Output format: text for people, json for tools (shapes in the README)' -r -f -a "text\t''
json\t''"
complete -c qfix -n "__fish_qfix_using_subcommand listeners" -l root -d 'Work on the host tree under DIR (configs, includes and /proc are read inside it)' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand listeners" -l rules -d 'Load extra rule files (*.toml) from DIR' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand listeners" -l sample -d 'Read the kernel\'s counters twice SECS apart (0 to 60), to see queues overflowing now (0: once)' -r
complete -c qfix -n "__fish_qfix_using_subcommand listeners" -l log-bytes -d 'Read at most SIZE from the end of each service log (K, M, G; 0: read no log)' -r
complete -c qfix -n "__fish_qfix_using_subcommand listeners" -s h -l help -d 'Print help'
complete -c qfix -n "__fish_qfix_using_subcommand watch" -l interval -d 'Seconds between readings (0.1 to 3600)' -r
complete -c qfix -n "__fish_qfix_using_subcommand watch" -l format -d 'Output format (with --once)' -r -f -a "text\t''
json\t''"
complete -c qfix -n "__fish_qfix_using_subcommand watch" -l root -d 'Work on the host tree under DIR (configs, includes and /proc are read inside it)' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand watch" -l rules -d 'Load extra rule files (*.toml) from DIR' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand watch" -l sample -d 'Read the kernel\'s counters twice SECS apart (0 to 60), to see queues overflowing now (0: once)' -r
complete -c qfix -n "__fish_qfix_using_subcommand watch" -l log-bytes -d 'Read at most SIZE from the end of each service log (K, M, G; 0: read no log)' -r
complete -c qfix -n "__fish_qfix_using_subcommand watch" -l once -d 'Print one sample (two readings INTERVAL apart) and exit'
complete -c qfix -n "__fish_qfix_using_subcommand watch" -s h -l help -d 'Print help'
complete -c qfix -n "__fish_qfix_using_subcommand snapshot" -l root -d 'Work on the host tree under DIR (configs, includes and /proc are read inside it)' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand snapshot" -l rules -d 'Load extra rule files (*.toml) from DIR' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand snapshot" -l sample -d 'Read the kernel\'s counters twice SECS apart (0 to 60), to see queues overflowing now (0: once)' -r
complete -c qfix -n "__fish_qfix_using_subcommand snapshot" -l log-bytes -d 'Read at most SIZE from the end of each service log (K, M, G; 0: read no log)' -r
complete -c qfix -n "__fish_qfix_using_subcommand snapshot" -s h -l help -d 'Print help'
complete -c qfix -n "__fish_qfix_using_subcommand rules" -l format -d 'Output format: text for people, json for tools (shapes in the README)' -r -f -a "text\t''
json\t''"
complete -c qfix -n "__fish_qfix_using_subcommand rules" -l root -d 'Work on the host tree under DIR (configs, includes and /proc are read inside it)' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand rules" -l rules -d 'Load extra rule files (*.toml) from DIR' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand rules" -l sample -d 'Read the kernel\'s counters twice SECS apart (0 to 60), to see queues overflowing now (0: once)' -r
complete -c qfix -n "__fish_qfix_using_subcommand rules" -l log-bytes -d 'Read at most SIZE from the end of each service log (K, M, G; 0: read no log)' -r
complete -c qfix -n "__fish_qfix_using_subcommand rules" -s h -l help -d 'Print help'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -l root -d 'Work on the host tree under DIR (configs, includes and /proc are read inside it)' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand explain" -l rules -d 'Load extra rule files (*.toml) from DIR' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand explain" -l sample -d 'Read the kernel\'s counters twice SECS apart (0 to 60), to see queues overflowing now (0: once)' -r
complete -c qfix -n "__fish_qfix_using_subcommand explain" -l log-bytes -d 'Read at most SIZE from the end of each service log (K, M, G; 0: read no log)' -r
complete -c qfix -n "__fish_qfix_using_subcommand explain" -s h -l help -d 'Print help'
complete -c qfix -n "__fish_qfix_using_subcommand completions" -l root -d 'Work on the host tree under DIR (configs, includes and /proc are read inside it)' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand completions" -l rules -d 'Load extra rule files (*.toml) from DIR' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand completions" -l sample -d 'Read the kernel\'s counters twice SECS apart (0 to 60), to see queues overflowing now (0: once)' -r
complete -c qfix -n "__fish_qfix_using_subcommand completions" -l log-bytes -d 'Read at most SIZE from the end of each service log (K, M, G; 0: read no log)' -r
complete -c qfix -n "__fish_qfix_using_subcommand completions" -s h -l help -d 'Print help'
complete -c qfix -n "__fish_qfix_using_subcommand man" -l dir -d 'Write qfix.1 and one page per command (qfix-plan.1, ...) into DIR' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand man" -l root -d 'Work on the host tree under DIR (configs, includes and /proc are read inside it)' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand man" -l rules -d 'Load extra rule files (*.toml) from DIR' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand man" -l sample -d 'Read the kernel\'s counters twice SECS apart (0 to 60), to see queues overflowing now (0: once)' -r
complete -c qfix -n "__fish_qfix_using_subcommand man" -l log-bytes -d 'Read at most SIZE from the end of each service log (K, M, G; 0: read no log)' -r
complete -c qfix -n "__fish_qfix_using_subcommand man" -s h -l help -d 'Print help'
complete -c qfix -n "__fish_qfix_using_subcommand schema" -l dir -d 'Write every schema to DIR/qfix-NAME.schema.json' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand schema" -l root -d 'Work on the host tree under DIR (configs, includes and /proc are read inside it)' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand schema" -l rules -d 'Load extra rule files (*.toml) from DIR' -r -F
complete -c qfix -n "__fish_qfix_using_subcommand schema" -l sample -d 'Read the kernel\'s counters twice SECS apart (0 to 60), to see queues overflowing now (0: once)' -r
complete -c qfix -n "__fish_qfix_using_subcommand schema" -l log-bytes -d 'Read at most SIZE from the end of each service log (K, M, G; 0: read no log)' -r
complete -c qfix -n "__fish_qfix_using_subcommand schema" -s h -l help -d 'Print help'
complete -c qfix -n "__fish_qfix_using_subcommand help; and not __fish_seen_subcommand_from blame plan apply rollback listeners watch snapshot rules explain completions man schema help" -f -a "blame" -d 'Show each key\'s live value, boot value, the winning assignment and what it overrides'
complete -c qfix -n "__fish_qfix_using_subcommand help; and not __fish_seen_subcommand_from blame plan apply rollback listeners watch snapshot rules explain completions man schema help" -f -a "plan" -d 'Report findings and propose the changes toward the desired state'
complete -c qfix -n "__fish_qfix_using_subcommand help; and not __fish_seen_subcommand_from blame plan apply rollback listeners watch snapshot rules explain completions man schema help" -f -a "apply" -d 'Show the plan, ask for approval, and apply it atomically with backups'
complete -c qfix -n "__fish_qfix_using_subcommand help; and not __fish_seen_subcommand_from blame plan apply rollback listeners watch snapshot rules explain completions man schema help" -f -a "rollback" -d 'Undo an apply: restore its files from the backups and its live values'
complete -c qfix -n "__fish_qfix_using_subcommand help; and not __fish_seen_subcommand_from blame plan apply rollback listeners watch snapshot rules explain completions man schema help" -f -a "listeners" -d 'List every service listener with its requested and effective backlog'
complete -c qfix -n "__fish_qfix_using_subcommand help; and not __fish_seen_subcommand_from blame plan apply rollback listeners watch snapshot rules explain completions man schema help" -f -a "watch" -d 'A live view of the kernel\'s listeners: the fullest accept queues, overflows per network namespace, TIME_WAIT per destination; q or Ctrl-C quits'
complete -c qfix -n "__fish_qfix_using_subcommand help; and not __fish_seen_subcommand_from blame plan apply rollback listeners watch snapshot rules explain completions man schema help" -f -a "snapshot" -d 'Record the live state of this host (sysctl values, kernel, host name) as JSON, for `plan --snapshot` on a configuration checkout'
complete -c qfix -n "__fish_qfix_using_subcommand help; and not __fish_seen_subcommand_from blame plan apply rollback listeners watch snapshot rules explain completions man schema help" -f -a "rules" -d 'List the rules (built-in, site and --rules)'
complete -c qfix -n "__fish_qfix_using_subcommand help; and not __fish_seen_subcommand_from blame plan apply rollback listeners watch snapshot rules explain completions man schema help" -f -a "explain" -d 'Print a rule\'s documentation: what it flags, why, an example, and its fix'
complete -c qfix -n "__fish_qfix_using_subcommand help; and not __fish_seen_subcommand_from blame plan apply rollback listeners watch snapshot rules explain completions man schema help" -f -a "completions" -d 'Print shell completions'
complete -c qfix -n "__fish_qfix_using_subcommand help; and not __fish_seen_subcommand_from blame plan apply rollback listeners watch snapshot rules explain completions man schema help" -f -a "man" -d 'Print the man page qfix(1) (roff), or write every page with --dir'
complete -c qfix -n "__fish_qfix_using_subcommand help; and not __fish_seen_subcommand_from blame plan apply rollback listeners watch snapshot rules explain completions man schema help" -f -a "schema" -d 'Print the JSON Schema of a JSON output (plan, listeners, blame, rules, snapshot, errors), or write them all to a directory'
complete -c qfix -n "__fish_qfix_using_subcommand help; and not __fish_seen_subcommand_from blame plan apply rollback listeners watch snapshot rules explain completions man schema help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF001' -d 'A sysctl.d line that is not an assignment'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'unparsable-sysctl-line' -d 'A sysctl.d line that is not an assignment'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF002' -d 'A live sysctl value differs from the value boot will set'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'live-differs-from-boot' -d 'A live sysctl value differs from the value boot will set'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF003' -d 'A sysctl assignment that a later file (or an explicit setting) overrides'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'overridden-assignment' -d 'A sysctl assignment that a later file (or an explicit setting) overrides'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF004' -d '/etc/sysctl.conf holds assignments but boot never reads it'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'sysctl-conf-not-read-at-boot' -d '/etc/sysctl.conf holds assignments but boot never reads it'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF005' -d 'A persisted key that does not exist on the running kernel'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'unknown-sysctl-key' -d 'A persisted key that does not exist on the running kernel'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF006' -d 'A somaxconn value the running kernel rejects'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'somaxconn-above-kernel-limit' -d 'A somaxconn value the running kernel rejects'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF007' -d 'A sysctl differs from the desired value (--set or the policy)'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'value-differs-from-desired' -d 'A sysctl differs from the desired value (--set or the policy)'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF008' -d 'A waiver in the policy that has expired or matches no finding'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'stale-waiver' -d 'A waiver in the policy that has expired or matches no finding'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF009' -d 'A sysctl or service configuration file or directory that every user may write'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'world-writable-config' -d 'A sysctl or service configuration file or directory that every user may write'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF100' -d 'A service config line qfix cannot parse, or an include that fails'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'unreadable-service-config' -d 'A service config line qfix cannot parse, or an include that fails'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF101' -d 'A service asks listen() for more backlog than net.core.somaxconn allows'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'backlog-capped-by-somaxconn' -d 'A service asks listen() for more backlog than net.core.somaxconn allows'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF102' -d 'uWSGI listen queue above somaxconn: uWSGI refuses to start'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'uwsgi-listen-above-somaxconn' -d 'uWSGI listen queue above somaxconn: uWSGI refuses to start'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF103' -d 'A listener\'s effective backlog is below the policy minimum (default 511)'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'effective-backlog-too-small' -d 'A listener\'s effective backlog is below the policy minimum (default 511)'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF104' -d 'tcp_max_syn_backlog below somaxconn while SYN cookies are off'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'syn-backlog-below-somaxconn' -d 'tcp_max_syn_backlog below somaxconn while SYN cookies are off'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF105' -d 'Several listen directives on one address ask for different backlogs'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'conflicting-backlogs-on-one-socket' -d 'Several listen directives on one address ask for different backlogs'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF106' -d 'net.core.somaxconn below the policy minimum (default 4096)'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'somaxconn-too-small' -d 'net.core.somaxconn below the policy minimum (default 4096)'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF110' -d 'A running listener holds a smaller accept queue than listening now would give it'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'listener-needs-restart' -d 'A running listener holds a smaller accept queue than listening now would give it'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF111' -d 'An accept queue is full, or overflowed during the sample'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'accept-queue-overflow' -d 'An accept queue is full, or overflowed during the sample'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF112' -d 'A configured service has no listening socket: it is not running'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'service-not-running' -d 'A configured service has no listening socket: it is not running'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF113' -d 'A container\'s network namespace caps its listeners with its own, small somaxconn'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'container-somaxconn-too-small' -d 'A container\'s network namespace caps its listeners with its own, small somaxconn'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF114' -d 'nginx\'s error log shows connects to an upstream failing'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'upstream-errors-in-log' -d 'nginx\'s error log shows connects to an upstream failing'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF115' -d 'A php-fpm pool reached its max_children: every worker was busy'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'worker-pool-saturated' -d 'A php-fpm pool reached its max_children: every worker was busy'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF120' -d 'One destination holds a large share of the local port range, or connects failed for want of a local port'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'ephemeral-ports-running-out' -d 'One destination holds a large share of the local port range, or connects failed for want of a local port'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'QF121' -d 'A live network sysctl differs from the kernel\'s default and no file persists it'
complete -c qfix -n "__fish_qfix_using_subcommand explain" -f -a 'live-sysctl-not-persisted' -d 'A live network sysctl differs from the kernel\'s default and no file persists it'
