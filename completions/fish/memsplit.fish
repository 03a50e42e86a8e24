# fish completion for memsplit(1)
set -l cmds snapshot diff watch
complete -c memsplit -f
complete -c memsplit -n "not __fish_seen_subcommand_from $cmds" -a snapshot -d 'record the pages of a merged set'
complete -c memsplit -n "not __fish_seen_subcommand_from $cmds" -a diff -d 'report copy-on-write breaks since a snapshot'
complete -c memsplit -n "not __fish_seen_subcommand_from $cmds" -a watch -d 'print breaks as they happen'
complete -c memsplit -n "not __fish_seen_subcommand_from $cmds" -F
# Selection: snapshot and watch
set -l sel "__fish_seen_subcommand_from snapshot watch"
complete -c memsplit -n $sel -a '(__fish_complete_pids)'
complete -c memsplit -n $sel -s a -l all -d 'all processes the caller may read'
complete -c memsplit -n $sel -s u -l user -x -a '(__fish_complete_users)' -d 'processes of user NAME or UID'
complete -c memsplit -n $sel -s n -l name -x -d 'processes whose name matches REGEX'
complete -c memsplit -n $sel -s f -l full -d 'match --name and --exclude against the full command line'
complete -c memsplit -n $sel -s x -l exclude -x -a '(__fish_complete_pids)' -d 'leave out PID or processes matching REGEX'
# snapshot
complete -c memsplit -n "__fish_seen_subcommand_from snapshot" -s o -l output -r -F -d 'write the snapshot to FILE'
complete -c memsplit -n "__fish_seen_subcommand_from snapshot" -l mapping -x -d 'record only mappings whose path matches REGEX'
complete -c memsplit -n "__fish_seen_subcommand_from snapshot diff" -l backend -x -a 'auto kmod procfs' -d 'page reader'
# diff
complete -c memsplit -n "__fish_seen_subcommand_from diff" -F
complete -c memsplit -n "__fish_seen_subcommand_from diff" -l pages -d 'list every broken page'
complete -c memsplit -n "__fish_seen_subcommand_from diff" -l format -x -a 'table json prometheus' -d 'output format'
complete -c memsplit -n "__fish_seen_subcommand_from diff" -l json -d 'print the mergemem.memsplit/1 JSON document'
# watch
complete -c memsplit -n "__fish_seen_subcommand_from watch" -l interval -x -d 'seconds between looks'
complete -c memsplit -n "__fish_seen_subcommand_from watch" -l count -x -d 'stop after N intervals'
complete -c memsplit -n "__fish_seen_subcommand_from watch" -l json -d 'print NDJSON events'
# every subcommand
complete -c memsplit -s q -l quiet -d 'no progress line'
complete -c memsplit -s v -l verbose -d 'say more'
complete -c memsplit -s h -l help -d 'show help and exit'
complete -c memsplit -s V -l version -d 'show the version and exit'
complete -c memsplit -l color -x -a 'auto always never' -d 'colour: on a terminal only (auto), always or never'
